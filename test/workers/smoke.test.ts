import { SELF } from 'cloudflare:test';
import { expect, inject, it } from 'vitest';

it('reaches a loopback upstream with the URL host kept as Host', async () => {
  const port = inject('upstreams').blue;
  const res = await SELF.fetch(`http://gw.test/?port=${port}`);
  const body = (await res.json()) as { upstream: string; headers: Record<string, string> };
  expect(body.upstream).toBe('blue');
  expect(body.headers.host).toBe(`api.example.com:${port}`);
});
