/** /_edgeway/health uses the admin API's operator check; the Worker's snapshot reader uses the same strict pipeline. */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { refreshTableNow } from '../../src/app/index.js';
import { KV_POINTER_KEY, snapshotKey } from '../../src/schema/snapshot.js';
import { backend, endpoint, get, publish, route } from './helpers.js';

const HEALTH = 'http://health.example.com/_edgeway/health';

describe('/_edgeway/health', () => {
  it('answers only the operator token, with the admin API’s 401 otherwise, and trusts no client IP header', async () => {
    await publish([
      backend('h', [endpoint('use1')]),
      route('h', { hostnames: ['h.example.com'], rules: [{ backendRefs: [{ name: 'h' }] }] }),
    ]);
    const refusals = [
      await SELF.fetch(HEALTH),
      await SELF.fetch(HEALTH, { headers: { 'cf-connecting-ip': '127.0.0.1' } }),
      await SELF.fetch(HEALTH, { headers: { 'cf-connecting-ip': '::1', 'x-forwarded-for': '127.0.0.1' } }),
      await SELF.fetch(HEALTH, { headers: { authorization: 'Bearer wrong-token-wrong-token-wrong' } }),
      await SELF.fetch(HEALTH, { headers: { authorization: `Basic ${env.ADMIN_TOKEN}` } }),
    ];
    for (const res of refusals) {
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('{"error":"unauthorized"}');
    }
    const ok = await SELF.fetch(HEALTH, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    const view = (await ok.json()) as { backends: { backend: string }[] };
    expect(view.backends.map((b) => b.backend)).toContain('default/h');
  });
});

describe('snapshot reader', () => {
  it('rejects a KV snapshot with an unknown field (one strict pipeline) and keeps serving the last good table', async () => {
    const good = await publish([
      backend('r', [endpoint('blue')]),
      route('r', { hostnames: ['reader.example.com'], rules: [{ backendRefs: [{ name: 'r' }] }] }),
    ]);
    expect((await get('http://reader.example.com/')).echo?.upstream).toBe('blue');
    // Version good+1 sends the route to green, but one rule has a typo: `matchs` would otherwise match everything.
    const version = good + 1;
    const snapshot = {
      version,
      createdAt: new Date().toISOString(),
      routes: [
        route('r', {
          hostnames: ['reader.example.com'],
          rules: [{ matchs: [{ path: { type: 'PathPrefix', value: '/admin' } }], backendRefs: [{ name: 'g' }] }],
        }),
      ],
      backends: [backend('g', [endpoint('green')])],
      policies: [],
    };
    await env.ROUTES.put(snapshotKey(version), JSON.stringify(snapshot));
    await env.ROUTES.put(KV_POINTER_KEY, JSON.stringify({ version, key: snapshotKey(version) }));
    await refreshTableNow(env);
    expect((await get('http://reader.example.com/')).echo?.upstream).toBe('blue');
    // The control: the same snapshot without the typo is taken.
    const fixed = structuredClone(snapshot);
    fixed.version = version + 1;
    (fixed.routes[0]!.spec as { rules: Record<string, unknown>[] }).rules[0] = { backendRefs: [{ name: 'g' }] };
    await env.ROUTES.put(snapshotKey(version + 1), JSON.stringify(fixed));
    await env.ROUTES.put(KV_POINTER_KEY, JSON.stringify({ version: version + 1, key: snapshotKey(version + 1) }));
    await refreshTableNow(env);
    expect((await get('http://reader.example.com/')).echo?.upstream).toBe('green');
  });
});
