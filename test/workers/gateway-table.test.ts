import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { refreshTableNow } from '../../src/app/index.js';
import { KV_POINTER_KEY, snapshotKey } from '../../src/schema/snapshot.js';
import { backend, endpoint, get, publish, route } from './helpers.js';

describe('routing table from KV', () => {
  it('keeps serving the last good table when a bad snapshot is published', async () => {
    const good = await publish([
      backend('blue', [endpoint('blue')]),
      route('t', { hostnames: ['t.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
    ]);
    const bad = good + 1;
    await env.ROUTES.put(
      snapshotKey(bad),
      JSON.stringify({
        version: bad,
        createdAt: new Date().toISOString(),
        routes: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'Bad Name!' }, spec: {} }],
      }),
    );
    await env.ROUTES.put(KV_POINTER_KEY, JSON.stringify({ version: bad, key: snapshotKey(bad) }));
    await refreshTableNow(env);
    const { res, echo } = await get('http://t.example.com/');
    expect(res.status).toBe(200);
    expect(echo?.upstream).toBe('blue');
  });

  it('switches to a new good version', async () => {
    await publish([
      backend('green', [endpoint('green')]),
      route('t', { hostnames: ['t.example.com'], rules: [{ backendRefs: [{ name: 'green' }] }] }),
    ]);
    expect((await get('http://t.example.com/')).echo?.upstream).toBe('green');
  });
});

describe('malformed requests get 4xx, never 500', () => {
  it('rejects a bad Host header with 400', async () => {
    const res = await SELF.fetch('http://t.example.com/', { headers: { host: 'bad host!' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('bad_request');
  });

  it('rejects an overlong request target with 414', async () => {
    const res = await SELF.fetch(`http://t.example.com/${'a'.repeat(9000)}`);
    expect(res.status).toBe(414);
  });

  it('ignores a garbage session cookie instead of failing', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      route('s', { hostnames: ['s.example.com'], rules: [{ sessionPersistence: {}, backendRefs: [{ name: 'blue' }] }] }),
    ]);
    const res = await SELF.fetch('http://s.example.com/', { headers: { cookie: 'edgeway-session=%%%<script>; other' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/^edgeway-session=[0-9a-f]{32}/);
  });

  it('answers odd methods and paths by routing rules, not crashing', async () => {
    // Path normalisation runs before matching: a broken escape is 400, an encoded slash is redirected (307).
    for (const [method, path, status] of [
      ['PATCH', '/%zz', 400],
      ['OPTIONS', '/..%2f..', 307],
      ['DELETE', '/a//b', 404],
    ] as const) {
      const res = await SELF.fetch(`http://nowhere.example.com${path}`, { method, redirect: 'manual' });
      expect({ path, status: res.status }).toEqual({ path, status });
    }
  });
});
