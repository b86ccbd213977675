/** Lease accounting: isolates serving from leased permits never exceed the limit together, and give back what they do not use. */
import { describe, expect, it } from 'vitest';
import { runRateLimitAccuracy } from '../../../bench/ratelimit.js';
import { LeaseTable } from '../../../src/ratelimit/lease.js';
import { LimiterCore } from '../../../src/ratelimit/limiter.js';
import type { AcquireRequest, LimiterConfig } from '../../../src/ratelimit.js';

const config: LimiterConfig = { algorithm: 'SlidingWindow', limits: [{ requests: 1_000, windowMs: 10_000 }], countDenied: false };

describe('LeaseTable', () => {
  it('serves a hot key mostly from leases, and the object never sees more than the limit', async () => {
    const core = new LimiterCore(config);
    const calls: AcquireRequest[] = [];
    const acquire = async (req: AcquireRequest) => {
      calls.push(structuredClone(req));
      return core.acquire(req, now);
    };
    const t = new LeaseTable();
    let now = 0;
    let allowed = 0;
    for (; now < 2_000; now += 1) if ((await t.take('k', config, now, acquire)).allowed) allowed++;
    expect(allowed).toBe(1_000);
    expect(calls.length).toBeLessThan(allowed / 2);
    expect(core.logs[0]!.total).toBe(1_000);
  });

  it('returns unused permits of an expired lease with the next call, and halves what it asks for', async () => {
    const core = new LimiterCore(config);
    const calls: AcquireRequest[] = [];
    let now = 0;
    const acquire = async (req: AcquireRequest) => {
      calls.push(structuredClone(req));
      return core.acquire(req, now);
    };
    const t = new LeaseTable();
    for (let i = 0; i < 4; i++) await t.take('k', config, (now = i), acquire);
    const held = t.held('k', now);
    expect(held).toBeGreaterThan(0);
    now = 5_000; // long after the lease ended
    await t.take('k', config, now, acquire);
    const last = calls.at(-1)!;
    expect(last.returns?.some((r) => r.unused === held)).toBe(true);
    expect(core.logs[0]!.total).toBe(5 + (t.held('k', now) ?? 0));
  });

  it('caches a denial until the retry time, without calling the object', async () => {
    const small: LimiterConfig = { algorithm: 'SlidingWindow', limits: [{ requests: 2, windowMs: 1_000 }], countDenied: false };
    const core = new LimiterCore(small);
    const t = new LeaseTable();
    const acquire = async (req: AcquireRequest) => core.acquire(req, 0);
    expect((await t.take('k', small, 0, acquire)).allowed).toBe(true);
    expect((await t.take('k', small, 0, acquire)).allowed).toBe(true);
    const denied = await t.take('k', small, 0, acquire);
    expect(denied.allowed).toBe(false);
    expect(denied.retryMs).toBe(1_000);
    // Cached: no object call until the retry time.
    const cached = await t.take('k', small, 500, async () => {
      throw new Error('must not be called');
    });
    expect(cached.allowed).toBe(false);
    expect(cached.retryMs).toBe(500);
  });

  it('coalesces concurrent misses into one object call and asks for what they needed', async () => {
    const core = new LimiterCore(config);
    const calls: AcquireRequest[] = [];
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const acquire = async (req: AcquireRequest) => {
      calls.push(structuredClone(req));
      await gate;
      return core.acquire(req, 0);
    };
    const t = new LeaseTable(100, () => 0);
    const all = Promise.all(Array.from({ length: 8 }, () => t.take('k', config, 0, acquire)));
    await Promise.resolve();
    release();
    const results = await all;
    expect(results.every((r) => r.allowed)).toBe(true);
    // The first call carried no lease; the waiters then made at most one more call, asking for all of them.
    expect(calls.length).toBe(2);
    expect(calls[1]!.want).toBeGreaterThanOrEqual(6);
    expect(core.logs[0]!.total - t.held('k', 0)).toBe(8);
  });

  it('refund puts a permit back for the next request', async () => {
    const small: LimiterConfig = { algorithm: 'SlidingWindow', limits: [{ requests: 1, windowMs: 1_000 }], countDenied: false };
    const core = new LimiterCore(small);
    const t = new LeaseTable();
    const acquire = async (req: AcquireRequest) => core.acquire(req, 0);
    const first = await t.take('k', small, 0, acquire);
    first.refund(0);
    expect(
      (
        await t.take('k', small, 1, async () => {
          throw new Error('must be served locally');
        })
      ).allowed,
    ).toBe(true);
  });
});

describe('simulated isolates on one hot key (virtual clock)', () => {
  it('never allows more than the limit in any window and denies nobody under 90% (equal latencies)', async () => {
    for (const [isolates, latency] of [
      [1, 0],
      [4, 3],
    ] as const) {
      const r = await runRateLimitAccuracy({
        clients: 30,
        isolates,
        limit: 20,
        windowMs: 1_000,
        durationMs: 4_000,
        thinkMs: 10,
        latencyMs: [latency, latency],
        seed: 7,
      });
      expect(r.maxInAnyWindow).toBe(20);
      expect(r.allowed).toBe(r.ideal);
      expect(r.deniedUnder90).toBe(0);
    }
  });

  it('stays within the limit with unequal latencies', async () => {
    const r = await runRateLimitAccuracy({
      clients: 30,
      isolates: 5,
      limit: 50,
      windowMs: 2_000,
      durationMs: 6_000,
      thinkMs: 5,
      latencyMs: [1, 20],
      seed: 3,
    });
    expect(r.maxInAnyWindow).toBeLessThanOrEqual(50);
    expect(r.allowed).toBeGreaterThanOrEqual(r.ideal * 0.95);
  });
});
