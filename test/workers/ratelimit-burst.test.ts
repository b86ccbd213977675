/** Cold-key bursts in workerd: concurrent requests at a new limiter object are counted exactly; what fails open is counted later. */
import { createExecutionContext, env, runInDurableObject, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CompiledPolicy, RateLimiterNamespaceLike } from '../../src/ratelimit.js';
import { compilePolicies } from '../../src/ratelimit/compile.js';
import type { RateLimiterDO } from '../../src/ratelimit/durable-object.js';
import { enforce, objectName } from '../../src/ratelimit/gate.js';
import { LeaseTable } from '../../src/ratelimit/lease.js';
import { RateLimitPolicy } from '../../src/schema/ratelimitpolicy.js';
import { backend, endpoint, publish, route } from './helpers.js';

const LIMIT = 20;
const ns = () => (env as unknown as { RATE_LIMITER: DurableObjectNamespace<RateLimiterDO> }).RATE_LIMITER;

/** What the object counted (sum over its stored sliding-log buckets) for a Header key of the burst route. */
async function counted(key: string): Promise<number> {
  const name = await objectName({ id: 'default/per-key' } as CompiledPolicy, 'default/burst', `h:x-api-key=${encodeURIComponent(key)}`);
  const stub = ns().get(ns().idFromName(name));
  return runInDurableObject(
    stub,
    (_i: RateLimiterDO, state) => state.storage.sql.exec<{ s: number }>('SELECT SUM(n) AS s FROM log').one().s,
  );
}

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
async function burst(concurrent: number): Promise<{ allowed: number; denied: number; other: number; counted: number }> {
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
    counted: await counted(key),
  };
}

describe('a burst at a cold key', () => {
  for (const concurrent of [25, 100, 200])
    it(`allows exactly the limit of ${concurrent} concurrent requests, at 5 fresh keys`, async () => {
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push(await burst(concurrent));
      console.info(`burst ${concurrent}: allowed ${runs.map((r) => r.allowed).join(', ')}`);
      // Every request answered by the object (none failed open: that would be counted on top of the limit).
      for (const r of runs) expect(r).toEqual({ allowed: LIMIT, denied: concurrent - LIMIT, other: 0, counted: LIMIT });
    });
});

describe('failing open past the budget', () => {
  it('lets requests through when the object answers too late, and the object counts them afterwards', async () => {
    const policies = compilePolicies([
      RateLimitPolicy.parse({
        apiVersion: 'edgeway.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: { name: 'slow', namespace: 'shop' },
        spec: {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
          limits: [{ requests: 5, window: '10s' }],
        },
      }),
    ]).forRule('shop/cart', undefined);
    // The real object, but its answers take 300 ms to come back: longer than the 100 ms budget used here.
    const slow: RateLimiterNamespaceLike = {
      idFromName: (name) => ns().idFromName(name),
      get: (id) => {
        const stub = ns().get(id);
        return {
          acquire: async (req) => {
            const res = await stub.acquire(req);
            await new Promise((r) => setTimeout(r, 300));
            return res;
          },
          release: (config, returns, admitted) => stub.release(config, returns, admitted),
        };
      },
    };
    const leases = new LeaseTable();
    const ctx = createExecutionContext();
    const lines: Record<string, unknown>[] = [];
    const run = () =>
      enforce({
        policies,
        request: new Request('https://shop.example.com/', { headers: { 'cf-connecting-ip': '192.0.2.44' } }),
        routeKey: 'shop/cart',
        namespace: slow,
        ctx,
        now: Date.now(),
        leases,
        timeoutMs: 100,
        log: (l) => lines.push(l as Record<string, unknown>),
      });
    const results = await Promise.all(Array.from({ length: 10 }, run));
    expect(results.every((r) => r.denied === undefined)).toBe(true);
    expect(lines).toHaveLength(10);
    expect(lines.every((l) => l.event === 'ratelimit_unavailable' && l.action === 'allow')).toBe(true);
    // The late answer lands, and the admissions are reported to the object.
    await waitOnExecutionContext(ctx);
    const name = await objectName(policies[0]!, 'shop/cart', 'ip=192.0.2.44');
    const sum = await runInDurableObject(
      ns().get(ns().idFromName(name)),
      (_i: RateLimiterDO, state) => state.storage.sql.exec<{ s: number }>('SELECT SUM(n) AS s FROM log').one().s,
    );
    // All 10 counted, each once: permits of the late answers cover what they can, the rest is reported.
    expect(sum).toBe(10);
    const next = await enforce({
      policies,
      request: new Request('https://shop.example.com/', { headers: { 'cf-connecting-ip': '192.0.2.44' } }),
      routeKey: 'shop/cart',
      namespace: slow,
      ctx: createExecutionContext(),
      now: Date.now(),
      leases,
      timeoutMs: 100,
    });
    expect(next.denied?.status).toBe(429);
  });
});
