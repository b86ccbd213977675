/** RateLimiterDO inside workerd: exact counting over RPC, persistence across eviction, alarm cleanup, and the gate end to end. */
import {
  createExecutionContext,
  env,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig, RateLimiterNamespaceLike } from '../../src/ratelimit.js';
import { compilePolicies } from '../../src/ratelimit/compile.js';
import { enforce } from '../../src/ratelimit/gate.js';
import type { RateLimiterDO } from '../../src/ratelimit/durable-object.js';
import { LeaseTable } from '../../src/ratelimit/lease.js';
import { RateLimitPolicy } from '../../src/schema/ratelimitpolicy.js';

const ns = () => (env as unknown as { RATE_LIMITER: DurableObjectNamespace<RateLimiterDO> }).RATE_LIMITER;
let n = 0;
const fresh = () => ns().get(ns().idFromName(`test/${++n}|key`));
const cfg = (requests: number, windowMs: number): LimiterConfig => ({
  algorithm: 'SlidingWindow',
  limits: [{ requests, windowMs }],
  countDenied: false,
});

const policy = (spec: Record<string, unknown>) =>
  RateLimitPolicy.parse({
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'RateLimitPolicy',
    metadata: { name: `p${++n}`, namespace: 'shop' },
    spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }], ...spec },
  });
const request = () => new Request('https://shop.example.com/', { headers: { 'cf-connecting-ip': '192.0.2.1' } });

describe('RateLimiterDO', () => {
  it('counts exactly over RPC and denies past the limit with a retry time', async () => {
    const stub = fresh();
    const config = cfg(3, 60_000);
    const granted = [];
    for (let i = 0; i < 5; i++) granted.push((await stub.acquire({ config, need: 1, want: 0 })).granted);
    expect(granted).toEqual([1, 1, 1, 0, 0]);
    const denied = await stub.acquire({ config, need: 1, want: 0 });
    expect(denied.retryMs).toBeGreaterThan(55_000);
    expect(denied.retryMs).toBeLessThanOrEqual(60_000);
    expect(denied.limits[0]).toMatchObject({ requests: 3, remaining: 0 });
    expect((await stub.counts()).remaining).toEqual([0]);
  });

  it('keeps its counts in SQLite across eviction', async () => {
    const stub = fresh();
    const config = cfg(10, 60_000);
    for (let i = 0; i < 4; i++) await stub.acquire({ config, need: 1, want: 0 });
    const lease = await stub.acquire({ config, need: 1, want: 2 });
    expect(lease.granted).toBe(1); // 5% of 10 rounds to no speculation
    await evictDurableObject(stub);
    expect((await stub.counts()).remaining).toEqual([5]);
    const rows = await runInDurableObject(
      stub,
      (_i: RateLimiterDO, state) => state.storage.sql.exec<{ s: number }>('SELECT SUM(n) AS s FROM log').one().s,
    );
    expect(rows).toBe(5);
  });

  it('takes back returned lease permits', async () => {
    const stub = fresh();
    const config = cfg(1_000, 60_000);
    const a = await stub.acquire({ config, need: 1, want: 20 });
    expect(a.granted).toBe(21);
    expect(a.leaseId).toBeDefined();
    await stub.release(config, [{ leaseId: a.leaseId!, unused: 15 }]);
    expect((await stub.counts()).remaining).toEqual([1_000 - 6]);
  });

  it('runs a token bucket: a burst of the limit, then refill over the window', async () => {
    const stub = fresh();
    const config: LimiterConfig = { algorithm: 'TokenBucket', limits: [{ requests: 4, windowMs: 60_000 }], countDenied: false };
    const got = [];
    for (let i = 0; i < 5; i++) got.push((await stub.acquire({ config, need: 1, want: 0 })).granted);
    expect(got).toEqual([1, 1, 1, 1, 0]);
    const denied = await stub.acquire({ config, need: 1, want: 0 });
    expect(denied.retryMs).toBeGreaterThan(14_000);
    expect(denied.retryMs).toBeLessThanOrEqual(15_000);
    await runInDurableObject(stub, (i: RateLimiterDO) => void (i.clock = () => Date.now() + 15_000));
    expect((await stub.acquire({ config, need: 1, want: 0 })).granted).toBe(1);
  });

  it('alarm deletes all storage once every window has expired, and re-arms while counts remain', async () => {
    const stub = fresh();
    await stub.acquire({ config: cfg(5, 2_000), need: 1, want: 0 });
    expect(await runInDurableObject(stub, (_i: RateLimiterDO, s) => s.storage.getAlarm())).not.toBeNull();
    // Still counted: the alarm keeps state and re-arms.
    await runInDurableObject(stub, (i: RateLimiterDO) => void (i.clock = () => Date.now() + 500));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.counts()).stored).toBe(true);
    expect(await runInDurableObject(stub, (_i: RateLimiterDO, s) => s.storage.getAlarm())).not.toBeNull();
    // Past the window: everything goes.
    await runInDurableObject(stub, (i: RateLimiterDO) => void (i.clock = () => Date.now() + 60_000));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = await runInDurableObject(stub, (_i: RateLimiterDO, s) => ({
      tables: s.storage.sql.exec(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'log')`).toArray().length,
    }));
    expect(after.tables).toBe(0);
    expect(await runInDurableObject(stub, (_i: RateLimiterDO, s) => s.storage.getAlarm())).toBeNull();
    // A new request starts from zero.
    await runInDurableObject(stub, (i: RateLimiterDO) => void (i.clock = () => Date.now()));
    expect((await stub.acquire({ config: cfg(5, 2_000), need: 1, want: 0 })).limits[0]!.remaining).toBe(4);
  });
});

describe('enforce with the RATE_LIMITER binding', () => {
  it('answers 429 with Retry-After, RateLimit fields and a JSON body', async () => {
    const policies = compilePolicies([policy({ limits: [{ requests: 2, window: '30s' }], legacyHeaders: true })]).forRule(
      'shop/cart',
      undefined,
    );
    const leases = new LeaseTable();
    const ctx = createExecutionContext();
    const run = () =>
      enforce({
        policies,
        request: request(),
        routeKey: 'shop/cart',
        namespace: ns() as unknown as RateLimiterNamespaceLike,
        ctx,
        now: Date.now(),
        leases,
        timeoutMs: 2_000,
        debug: true,
      });
    const first = await run();
    expect(first.denied).toBeUndefined();
    expect(new Map(first.headers).get('RateLimit')).toMatch(/;r=1;t=(29|30|31)$/);
    await run();
    const third = await run();
    await waitOnExecutionContext(ctx);
    const res = third.denied!;
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(Number(/t=(\d+)/.exec(res.headers.get('ratelimit')!)![1]));
    expect(res.headers.get('ratelimit-policy')).toMatch(/;q=2;w=30$/);
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(await res.json()).toMatchObject({ error: 'rate_limited', route: 'shop/cart', retryAfter });
  });

  it('fails open (allow + one JSON log line) or closed (503) when the limiter throws or does not answer', async () => {
    const throwing: RateLimiterNamespaceLike = {
      idFromName: (name) => ns().idFromName(name),
      get: () => ({
        acquire: async () => {
          throw new Error('Durable Object is overloaded. Too many requests queued.');
        },
        release: async () => {},
      }),
    };
    const hanging: RateLimiterNamespaceLike = {
      idFromName: (name) => ns().idFromName(name),
      get: () => ({ acquire: () => new Promise(() => {}), release: async () => {} }),
    };
    for (const namespace of [throwing, hanging])
      for (const failOpen of [true, false]) {
        const lines: object[] = [];
        const policies = compilePolicies([policy({ limits: [{ requests: 5, window: '1s' }], failOpen })]).forRule('shop/cart', undefined);
        const r = await enforce({
          policies,
          request: request(),
          routeKey: 'shop/cart',
          namespace,
          ctx: createExecutionContext(),
          now: Date.now(),
          leases: new LeaseTable(),
          log: (l) => lines.push(l),
          timeoutMs: 20,
        });
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatchObject({ event: 'ratelimit_unavailable', route: 'shop/cart', action: failOpen ? 'allow' : 'deny' });
        expect(r.denied?.status).toBe(failOpen ? undefined : 503);
      }
  });
});
