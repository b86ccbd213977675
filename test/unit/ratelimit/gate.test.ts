/** The request-path gate against an in-process limiter: 429/401/503, headers, fail-open, per-rule policies. */
import { describe, expect, it } from 'vitest';
import { compilePolicies } from '../../../src/ratelimit/compile.js';
import { enforce } from '../../../src/ratelimit/gate.js';
import { LeaseTable } from '../../../src/ratelimit/lease.js';
import { LimiterCore } from '../../../src/ratelimit/limiter.js';
import type { AcquireRequest, AdmittedReport, LeaseReturn, LimiterConfig, RateLimiterNamespaceLike } from '../../../src/ratelimit.js';
import { RateLimitPolicy } from '../../../src/schema/ratelimitpolicy.js';

const policy = (name: string, spec: Record<string, unknown>) =>
  RateLimitPolicy.parse({ apiVersion: 'edgeway.dev/v1alpha1', kind: 'RateLimitPolicy', metadata: { name, namespace: 'shop' }, spec });

/** A namespace whose objects are LimiterCores on a settable clock; `broken` makes every call throw, `hang` never answer. */
function fakeNamespace(clock: { now: number }, initial: 'ok' | 'broken' | 'hang' = 'ok') {
  const state = { mode: initial };
  const cores = new Map<string, LimiterCore>();
  const names: string[] = [];
  const ns = {
    idFromName: (name: string) => ({ name }) as unknown as DurableObjectId,
    get: (id: DurableObjectId) => {
      const name = (id as unknown as { name: string }).name;
      names.push(name);
      const core = () => {
        if (state.mode === 'broken') throw new Error('Durable Object reset because its code was updated.');
        let c = cores.get(name);
        return c ?? (cores.set(name, (c = new LimiterCore(lastConfig as LimiterConfig))), c);
      };
      let lastConfig: LimiterConfig | undefined;
      return {
        acquire: async (req: AcquireRequest) => {
          if (state.mode === 'hang') return new Promise<never>(() => {});
          lastConfig = req.config;
          return core().acquire(structuredClone(req), clock.now);
        },
        release: async (c: LimiterConfig, returns: LeaseReturn[], admitted?: AdmittedReport[]) => {
          lastConfig = c;
          core().release(returns, clock.now, admitted);
        },
      };
    },
  } satisfies RateLimiterNamespaceLike;
  return { ns, cores, names, state };
}

const ctx = { waitUntil: (_p: Promise<unknown>) => {} };
const req = (h: Record<string, string> = {}) =>
  new Request('https://shop.example.com/cart', { headers: { 'cf-connecting-ip': '203.0.113.7', ...h } });

describe('compilePolicies', () => {
  it('applies whole-route policies to every rule and sectionName policies to their rule only', () => {
    const idx = compilePolicies([
      policy('whole', {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
        limits: [{ requests: 5, window: '1s' }],
      }),
      policy('checkout', {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart', sectionName: 'pay' }],
        limits: [{ requests: 1, window: '1s' }],
      }),
    ]);
    expect(idx.forRule('shop/cart', 'pay').map((p) => [p.id, p.section])).toEqual([
      ['shop/whole', undefined],
      ['shop/checkout', 'pay'],
    ]);
    expect(idx.forRule('shop/cart', 'browse').map((p) => p.id)).toEqual(['shop/whole']);
    expect(idx.forRule('shop/cart', undefined).map((p) => p.id)).toEqual(['shop/whole']);
    expect(idx.forRule('other/cart', 'pay')).toEqual([]);
    expect(idx.forRule('shop/cart', 'pay')).toBe(idx.forRule('shop/cart', 'pay'));
  });
});

describe('enforce', () => {
  const twoLimits = policy('api', {
    targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
    limits: [
      { requests: 2, window: '1s' },
      { requests: 3, window: '1m' },
    ],
    legacyHeaders: true,
  });

  it('adds draft-10 headers, then answers 429 with Retry-After >= t and a JSON body', async () => {
    const clock = { now: 1_000_000 };
    const { ns } = fakeNamespace(clock);
    const policies = compilePolicies([twoLimits]).forRule('shop/cart', undefined);
    const leases = new LeaseTable();
    const run = () => enforce({ policies, request: req(), routeKey: 'shop/cart', namespace: ns, ctx, now: clock.now, leases });
    const a = await run();
    expect(a.denied).toBeUndefined();
    const h = new Map(a.headers);
    expect(h.get('RateLimit-Policy')).toBe('"api/1s";q=2;w=1, "api/1m";q=3;w=60');
    expect(h.get('RateLimit')).toBe('"api/1s";r=1;t=1');
    expect(h.get('X-RateLimit-Remaining')).toBe('1');
    await run();
    const c = await run();
    expect(c.denied?.status).toBe(429);
    const retryAfter = Number(c.denied!.headers.get('retry-after'));
    const t = Number(/t=(\d+)/.exec(c.denied!.headers.get('ratelimit')!)![1]);
    expect(retryAfter).toBeGreaterThanOrEqual(t);
    expect(c.denied!.headers.get('ratelimit')).toMatch(/^"api\/1s";r=0;t=1$/);
    // Internal names only with debug on; the request id always, so the client can quote it.
    expect(await c.denied!.json()).toEqual({ error: 'rate_limited', retryAfter });
    const debug = await enforce({
      policies,
      request: req(),
      routeKey: 'shop/cart',
      namespace: ns,
      ctx,
      now: clock.now,
      leases,
      requestId: 'r-1',
      debug: true,
    });
    expect(await debug.denied!.json()).toEqual({
      error: 'rate_limited',
      route: 'shop/cart',
      policy: 'shop/api',
      retryAfter,
      requestId: 'r-1',
    });
    // After the 1s window the 1m limit (3) is the one that bites.
    clock.now += 1_000;
    expect(
      (await enforce({ policies, request: req(), routeKey: 'shop/cart', namespace: ns, ctx, now: clock.now, leases })).denied,
    ).toBeUndefined();
    const e = await enforce({ policies, request: req(), routeKey: 'shop/cart', namespace: ns, ctx, now: clock.now, leases });
    expect(e.denied?.status).toBe(429);
    expect(e.denied!.headers.get('ratelimit')).toMatch(/^"api\/1m";r=0;t=(59|60)$/);
  });

  it('keeps separate counters per client IP and ignores X-Forwarded-For', async () => {
    const clock = { now: 0 };
    const { ns } = fakeNamespace(clock);
    const p = policy('one', {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
      limits: [{ requests: 1, window: '10s' }],
    });
    const policies = compilePolicies([p]).forRule('shop/cart', undefined);
    const leases = new LeaseTable();
    const go = (h: Record<string, string>) =>
      enforce({ policies, request: req(h), routeKey: 'shop/cart', namespace: ns, ctx, now: 0, leases });
    expect((await go({})).denied).toBeUndefined();
    expect((await go({ 'x-forwarded-for': '198.51.100.1' })).denied?.status).toBe(429);
    expect((await go({ 'cf-connecting-ip': '198.51.100.1' })).denied).toBeUndefined();
  });

  it('denies a missing key with 401 when missingKey is Deny, and falls back to the client IP by default', async () => {
    const { ns } = fakeNamespace({ now: 0 });
    const keyed = (missingKey?: string) =>
      compilePolicies([
        policy('k', {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
          limits: [{ requests: 5, window: '1s' }],
          keys: [{ type: 'Header', name: 'x-api-key' }],
          ...(missingKey ? { missingKey } : {}),
        }),
      ]).forRule('shop/cart', undefined);
    const denied = await enforce({
      policies: keyed('Deny'),
      request: req(),
      routeKey: 'shop/cart',
      namespace: ns,
      ctx,
      now: 0,
      leases: new LeaseTable(),
    });
    expect(denied.denied?.status).toBe(401);
    expect(await denied.denied!.json()).toEqual({
      error: 'missing_rate_limit_key',
      missing: 'header "x-api-key"',
    });
    const fallback = await enforce({
      policies: keyed(),
      request: req(),
      routeKey: 'shop/cart',
      namespace: ns,
      ctx,
      now: 0,
      leases: new LeaseTable(),
    });
    expect(fallback.denied).toBeUndefined();
    expect(new Map(fallback.headers).get('RateLimit')).toBe('"k";r=4;t=1');
  });

  it('fails open with one JSON log line, or closed with 503 when failOpen is false', async () => {
    for (const mode of ['broken', 'hang'] as const) {
      const { ns } = fakeNamespace({ now: 0 }, mode);
      for (const failOpen of [true, false]) {
        const lines: Record<string, unknown>[] = [];
        const policies = compilePolicies([
          policy('f', {
            targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
            limits: [{ requests: 5, window: '1s' }],
            failOpen,
          }),
        ]).forRule('shop/cart', undefined);
        const r = await enforce({
          policies,
          request: req(),
          routeKey: 'shop/cart',
          namespace: ns,
          ctx,
          now: 0,
          leases: new LeaseTable(),
          log: (l) => lines.push(l as Record<string, unknown>),
          timeoutMs: 5,
        });
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatchObject({
          event: 'ratelimit_unavailable',
          route: 'shop/cart',
          policy: 'shop/f',
          action: failOpen ? 'allow' : 'deny',
        });
        if (failOpen) expect(r.denied).toBeUndefined();
        else {
          expect(r.denied?.status).toBe(503);
          expect(await r.denied!.json()).toEqual({ error: 'rate_limiter_unavailable' });
        }
      }
    }
  });

  it('counts what it let through while failing open once the limiter answers again', async () => {
    const clock = { now: 0 };
    const { ns, cores, state } = fakeNamespace(clock, 'broken');
    const p = policy('late', {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
      limits: [{ requests: 5, window: '10s' }],
    });
    const policies = compilePolicies([p]).forRule('shop/cart', undefined);
    const leases = new LeaseTable(100, () => clock.now);
    const lines: object[] = [];
    const pending: Promise<unknown>[] = [];
    const run = () =>
      enforce({
        policies,
        request: req(),
        routeKey: 'shop/cart',
        namespace: ns,
        ctx: { waitUntil: (q) => void pending.push(q) },
        now: clock.now,
        leases,
        log: (l) => lines.push(l),
      });
    for (let i = 0; i < 3; i++) expect((await run()).denied).toBeUndefined();
    await Promise.all(pending);
    expect(lines).toHaveLength(3);
    state.mode = 'ok';
    clock.now = 100;
    // 3 let through uncounted + this one: 4 of 5; the fifth is allowed, the sixth denied.
    expect(new Map((await run()).headers).get('RateLimit')).toBe('"late";r=1;t=10');
    expect((await run()).denied).toBeUndefined();
    expect((await run()).denied?.status).toBe(429);
    expect([...cores.values()][0]!.logs[0]!.total).toBe(5);
  });

  it('counts nothing for a request another policy denies', async () => {
    const clock = { now: 0 };
    const { ns, cores } = fakeNamespace(clock);
    const loose = policy('loose', {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
      limits: [{ requests: 100, window: '10s' }],
    });
    const tight = policy('tight', {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart' }],
      limits: [{ requests: 1, window: '10s' }],
    });
    const policies = compilePolicies([loose, tight]).forRule('shop/cart', undefined);
    const leases = new LeaseTable();
    for (let i = 0; i < 5; i++) await enforce({ policies, request: req(), routeKey: 'shop/cart', namespace: ns, ctx, now: i, leases });
    const looseCore = [...cores.entries()].find(([n]) => n.startsWith('shop/loose'))![1];
    // 1 used; what else the loose object handed out sits unused in the local lease.
    const held = [...cores.keys()].filter((n) => n.startsWith('shop/loose')).reduce((s, n) => s + leases.held(n, 5), 0);
    expect(looseCore.logs[0]!.total - held).toBe(1);
  });

  it('gives a sectionName policy its own counters per rule', async () => {
    const { ns, names } = fakeNamespace({ now: 0 });
    const p = policy('s', {
      targetRefs: [
        { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart', sectionName: 'a' },
        { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'cart', sectionName: 'b' },
      ],
      limits: [{ requests: 1, window: '10s' }],
    });
    const idx = compilePolicies([p]);
    const leases = new LeaseTable();
    const a = await enforce({
      policies: idx.forRule('shop/cart', 'a'),
      ruleName: 'a',
      request: req(),
      routeKey: 'shop/cart',
      namespace: ns,
      ctx,
      now: 0,
      leases,
    });
    const b = await enforce({
      policies: idx.forRule('shop/cart', 'b'),
      ruleName: 'b',
      request: req(),
      routeKey: 'shop/cart',
      namespace: ns,
      ctx,
      now: 0,
      leases,
    });
    expect(a.denied).toBeUndefined();
    expect(b.denied).toBeUndefined();
    expect(new Set(names).size).toBe(2);
    expect(names.every((n) => !n.includes('203.0.113.7'))).toBe(true);
  });
});
