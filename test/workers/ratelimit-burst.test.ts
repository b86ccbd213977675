/** Cold-key bursts through the gateway in workerd: concurrent requests at a new limiter object are counted exactly. */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { backend, endpoint, publish, route } from './helpers.js';

const LIMIT = 20;

beforeAll(async () => {
  await publish([
    backend('blue', [endpoint('blue')]),
    route('burst', { hostnames: ['burst.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
    {
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'per-key' },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'burst' }],
        limits: [{ requests: LIMIT, window: '10s' }],
        keys: [{ type: 'Header', name: 'x-api-key' }],
      },
    },
  ]);
});

let seq = 0;
async function burst(concurrent: number): Promise<{ allowed: number; denied: number; other: number }> {
  const key = `cold-${Date.now()}-${++seq}-${Math.random().toString(36).slice(2)}`;
  const res = await Promise.all(
    Array.from({ length: concurrent }, () =>
      SELF.fetch('http://burst.example.com/', { headers: { 'x-api-key': key, 'cf-connecting-ip': '198.51.100.7' } }).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      }),
    ),
  );
  return {
    allowed: res.filter((s) => s === 200).length,
    denied: res.filter((s) => s === 429).length,
    other: res.filter((s) => s !== 200 && s !== 429).length,
  };
}

describe('a burst at a cold key', () => {
  for (const concurrent of [25, 100, 200])
    it(`allows exactly the limit of ${concurrent} concurrent requests, at 5 fresh keys`, async () => {
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push(await burst(concurrent));
      console.info(`burst ${concurrent}: allowed ${runs.map((r) => r.allowed).join(', ')}`);
      for (const r of runs) expect(r).toEqual({ allowed: LIMIT, denied: concurrent - LIMIT, other: 0 });
    });
});
