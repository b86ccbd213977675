/** LimiterCore: several limits at once, denied requests not counted, leases capped and returned. */
import { describe, expect, it } from 'vitest';
import { LimiterCore, MAX_SPEC, SPEC_FRACTION } from '../../../src/ratelimit/limiter.js';
import type { LimiterConfig } from '../../../src/ratelimit.js';

const sliding = (limits: [number, number][], countDenied = false): LimiterConfig => ({
  algorithm: 'SlidingWindow',
  limits: limits.map(([requests, windowMs]) => ({ requests, windowMs })),
  countDenied,
});
const one = { need: 1, want: 0 };

describe('LimiterCore', () => {
  it('allows only when every limit allows (3 per 1s and 5 per 10s)', () => {
    const core = new LimiterCore(
      sliding([
        [3, 1_000],
        [5, 10_000],
      ]),
    );
    const at = [0, 10, 20, 30, 1_100, 1_200, 1_300];
    const got = at.map((t) => core.acquire({ config: core.config, ...one }, t).granted);
    // 4th denied by 3/1s; 5th,6th allowed in the next second; 7th denied by 5/10s.
    expect(got).toEqual([1, 1, 1, 0, 1, 1, 0]);
    const denied = core.acquire({ config: core.config, ...one }, 1_300);
    expect(denied.retryMs).toBe(10_000 - 1_300); // the 10s limit frees its first unit at 10000
    expect(denied.limits.map((l) => l.remaining)).toEqual([1, 0]);
  });

  it('does not count denied requests unless countDenied', () => {
    for (const countDenied of [false, true]) {
      const core = new LimiterCore(sliding([[2, 1_000]], countDenied));
      for (let i = 0; i < 5; i++) core.acquire({ config: core.config, ...one }, 0);
      expect(core.logs[0]!.total).toBe(countDenied ? 5 : 2);
    }
  });

  it('token bucket: refill lets one more in after window/limit', () => {
    const core = new LimiterCore({ algorithm: 'TokenBucket', limits: [{ requests: 5, windowMs: 1_000 }], countDenied: false });
    for (let i = 0; i < 5; i++) expect(core.acquire({ config: core.config, ...one }, 0).granted).toBe(1);
    const d = core.acquire({ config: core.config, ...one }, 0);
    expect(d.granted).toBe(0);
    expect(d.retryMs).toBe(200);
    expect(core.acquire({ config: core.config, ...one }, 199).granted).toBe(0);
    expect(core.acquire({ config: core.config, ...one }, 200).granted).toBe(1);
  });

  it('grants a key far from its limit one batch of MAX_SPEC (1024), so a hot isolate calls the object rarely', () => {
    expect(MAX_SPEC).toBe(1024);
    const core = new LimiterCore(sliding([[1_000_000_000, 60_000]]));
    const a = core.acquire({ config: core.config, need: 1, want: 100_000 }, 0);
    expect(a.granted).toBe(1 + MAX_SPEC);
    expect(core.outstanding).toBe(MAX_SPEC);
    // What it did not use comes back: only what was used stays counted.
    core.release([{ leaseId: a.leaseId!, unused: MAX_SPEC - 10 }], 5);
    expect(core.outstanding).toBe(0);
  });

  it('caps speculative leases at SPEC_FRACTION of the limit and leases 1 at a time near the limit', () => {
    const core = new LimiterCore(sliding([[1_000, 10_000]]));
    const a = core.acquire({ config: core.config, need: 1, want: 256 }, 0);
    expect(a.granted - 1).toBe(SPEC_FRACTION * 1_000);
    const b = core.acquire({ config: core.config, need: 1, want: 256 }, 1);
    expect(b.granted).toBe(1); // cap used up by a's lease
    core.release([{ leaseId: a.leaseId!, unused: 50 }], 2);
    expect(core.logs[0]!.total).toBe(2);
    // Near the limit: at most half of what is left.
    const c = new LimiterCore(sliding([[100, 10_000]]));
    for (let i = 0; i < 96; i++) c.acquire({ config: c.config, ...one }, 0);
    expect(c.acquire({ config: c.config, need: 1, want: 100 }, 0).granted).toBe(2); // 4 left: 1 + floor(3/2)
    expect(c.acquire({ config: c.config, need: 1, want: 100 }, 0).granted).toBe(1);
  });

  it('counts a lease at its expiry so late use stays inside the limit, and is idle after the longest window', () => {
    const core = new LimiterCore(sliding([[1_000, 10_000]]));
    const r = core.acquire({ config: core.config, need: 1, want: 10 }, 0);
    expect(r.granted).toBe(11);
    expect(core.logs[0]!.at).toEqual([0, core.ttl]);
    expect(core.isIdle(10_000 + core.ttl)).toBe(false);
    expect(core.isIdle(10_001 + core.ttl)).toBe(true);
  });

  it('does not sum permits leaving the window with permits still on their way: no window holds both', () => {
    const core = new LimiterCore(sliding([[10, 1_000]]));
    for (let i = 0; i < 8; i++) core.acquire({ config: core.config, ...one }, 0);
    // Two slow callers (20 ms one way) get permits they will use at 1010, after the 8 above have left the window.
    for (let i = 0; i < 2; i++) expect(core.acquire({ config: core.config, ...one, sentAt: 970 }, 990).granted).toBe(1);
    // A fast caller uses its permit at 992: its window holds 8 (80%), the one ending at 1010 holds 3.
    const fast = core.acquire({ config: core.config, ...one, sentAt: 990 }, 991);
    expect(fast.granted).toBe(1);
    expect(fast.limits[0]!.remaining).toBe(1);
    const full = core.acquire({ config: core.config, ...one, sentAt: 990 }, 991);
    expect(full.granted).toBe(1);
    // Now 10 in the window ending at 992: denied, and free again when the first 8 leave at 1000, not when 1010 does.
    const denied = core.acquire({ config: core.config, ...one, sentAt: 990 }, 991);
    expect(denied.granted).toBe(0);
    expect(denied.retryMs).toBe(1_000 - 992);
    expect(core.acquire({ config: core.config, ...one, sentAt: 1_000 }, 1_000).granted).toBe(1);
  });

  it('restores from its persisted form', () => {
    const core = new LimiterCore(sliding([[10, 1_000]]));
    core.acquire({ config: core.config, need: 1, want: 0 }, 5);
    core.acquire({ config: core.config, need: 1, want: 0 }, 7);
    const rows = core.logs[0]!.at.map((at, i) => ({ li: 0, at, n: core.logs[0]!.n[i]! }));
    const back = LimiterCore.restore(JSON.parse(JSON.stringify(core.meta())), rows);
    expect(back.views(8)[0]!.remaining).toBe(8);
    expect(back.views(1_006)[0]!.resetMs).toBe(1);
  });
});

describe('LimiterCore batches and late counts', () => {
  it('grants a batch from the only isolate on the key all that fits, and denies the rest', () => {
    const core = new LimiterCore(sliding([[20, 10_000]]));
    expect(core.acquire({ config: core.config, need: 1, want: 0, caller: 'a' }, 0).granted).toBe(1);
    const batch = core.acquire({ config: core.config, need: 99, partial: true, want: 0, caller: 'a' }, 1);
    expect(batch.granted).toBe(19);
    expect(batch.retryMs).toBeGreaterThan(0);
    expect(core.logs[0]!.total).toBe(20);
    const after = core.acquire({ config: core.config, need: 5, partial: true, want: 0, caller: 'a' }, 2);
    expect(after.granted).toBe(0);
  });

  it('caps a batch like a lease while isolates share the key; the rest asks again (retryMs 0)', () => {
    const core = new LimiterCore(sliding([[100, 10_000]]));
    core.acquire({ config: core.config, need: 1, want: 0, caller: 'b' }, 0);
    const batch = core.acquire({ config: core.config, need: 50, partial: true, want: 0, caller: 'a' }, 1);
    // 1 + SPEC_FRACTION of the limit.
    expect(batch.granted).toBe(1 + SPEC_FRACTION * 100);
    expect(batch.retryMs).toBe(0);
    // Those extras count against the speculation room until a lease lifetime has passed.
    expect(core.acquire({ config: core.config, need: 50, partial: true, want: 0, caller: 'a' }, 2).granted).toBe(1);
    expect(core.acquire({ config: core.config, need: 50, partial: true, want: 0, caller: 'a' }, 2 + core.ttl).granted).toBe(6);
    // An unknown caller is treated as sharing.
    const anon = new LimiterCore(sliding([[100, 10_000]]));
    expect(anon.acquire({ config: anon.config, need: 50, partial: true, want: 0 }, 0).granted).toBe(6);
  });

  it('counts fail-open admissions at the time they were let through, over the limit if need be', () => {
    const core = new LimiterCore(sliding([[3, 1_000]]));
    core.acquire({ config: core.config, need: 1, want: 0 }, 500);
    // 4 let through 300 ms before this call was sent, while the object could not be reached.
    const r = core.acquire({ config: core.config, need: 1, want: 0, sentAt: 1_000, admitted: [{ n: 4, agoMs: 300 }] }, 1_000);
    expect(r.granted).toBe(0);
    expect(core.logs[0]!.total).toBe(5);
    // They leave the window 1 s after they were admitted (700), not after the report arrived.
    expect(core.views(1_500)[0]!.remaining).toBe(0);
    expect(core.views(1_700)[0]!.remaining).toBe(3);
    // Reports too old to matter, or malformed, count nothing.
    core.release([], 2_000, [
      { n: 2, agoMs: 5_000 },
      { n: -1, agoMs: 0 },
      { n: Number.NaN, agoMs: 0 },
    ]);
    expect(core.views(2_000)[0]!.remaining).toBe(3);
    core.release([], 2_000, [{ n: 2, agoMs: 0 }]);
    expect(core.views(2_000)[0]!.remaining).toBe(1);
  });
});
