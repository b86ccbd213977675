import { describe, expect, it } from 'vitest';
import { DEFAULT_OUTLIER, OutlierDetector, outlierConfig } from '../../../src/health/outlier.js';
import type { OutlierConfig, PassiveOutcome } from '../../../src/health.js';

const cfg: OutlierConfig = {
  consecutiveFailures: 3,
  baseEjectionMs: 1000,
  maxEjectionMs: 2500,
  maxEjectionPercent: 50,
  decayIntervalMs: 10_000,
};
const group = (size: number, config = cfg) => ({ id: 'ns/b', size, config });

function fail(d: OutlierDetector, key: string, n: number, now: number, outcome: PassiveOutcome = 'http-5xx', size = 4) {
  let last = null;
  for (let i = 0; i < n; i++) last = d.record(key, outcome, now, group(size)) ?? last;
  return last;
}

describe('OutlierDetector', () => {
  it('ejects after consecutiveFailures of any failure kind, not before', () => {
    const d = new OutlierDetector();
    expect(d.record('a', 'connect-failure', 0, group(4))).toBeNull();
    expect(d.record('a', 'timeout', 0, group(4))).toBeNull();
    expect(d.state('a', 0)).toBe('closed');
    const change = d.record('a', 'http-5xx', 0, group(4));
    expect(change).toMatchObject({ key: 'a', from: 'closed', to: 'open', until: 1000, ejections: 1 });
    expect(change!.reason).toContain('3 consecutive failures');
    expect(d.state('a', 999)).toBe('open');
    expect(d.admit('a', 999)).toBe(false);
  });

  it('a success resets the consecutive count', () => {
    const d = new OutlierDetector();
    fail(d, 'a', 2, 0);
    d.record('a', 'success', 0, group(4));
    fail(d, 'a', 2, 0);
    expect(d.state('a', 0)).toBe('closed');
    fail(d, 'a', 1, 0);
    expect(d.state('a', 0)).toBe('open');
  });

  it('ejection turns half-open when it expires; exactly one trial is admitted', () => {
    const d = new OutlierDetector();
    fail(d, 'a', 3, 0);
    expect(d.state('a', 1000)).toBe('half-open');
    expect(d.trialAvailable('a', 1000)).toBe(true);
    expect(d.admit('a', 1000)).toBe(true);
    expect(d.admit('a', 1001)).toBe(false);
    expect(d.trialAvailable('a', 1001)).toBe(false);
  });

  it('a successful trial closes the circuit', () => {
    const d = new OutlierDetector();
    fail(d, 'a', 3, 0);
    d.admit('a', 1000);
    const c = d.record('a', 'success', 1050, group(4));
    expect(c).toMatchObject({ from: 'half-open', to: 'closed' });
    expect(d.state('a', 1050)).toBe('closed');
    expect(d.admit('a', 1050)).toBe(true);
    expect(d.admit('a', 1050)).toBe(true);
  });

  it('a failed trial re-ejects for longer, growing with each ejection and capped at max', () => {
    const d = new OutlierDetector();
    fail(d, 'a', 3, 0); // 1st ejection: 1000ms
    expect(d.view('a', 0)!.ejectedUntil).toBe(1000);
    d.admit('a', 1000);
    const c2 = d.record('a', 'timeout', 1000, group(4));
    expect(c2).toMatchObject({ from: 'half-open', to: 'open', until: 3000, ejections: 2 }); // 2 x base
    expect(d.state('a', 2999)).toBe('open');
    d.admit('a', 3000);
    const c3 = d.record('a', 'connect-failure', 3000, group(4));
    expect(c3).toMatchObject({ until: 5500, ejections: 3 }); // 3 x base = 3000 capped at 2500
    d.admit('a', 5500);
    expect(d.record('a', 'http-5xx', 5500, group(4))).toMatchObject({ until: 8000 });
  });

  it('a lost trial is handed out again after trialTimeoutMs', () => {
    const d = new OutlierDetector({ ...DEFAULT_OUTLIER, trialTimeoutMs: 500 });
    fail(d, 'a', 3, 0);
    expect(d.admit('a', 1000)).toBe(true);
    expect(d.admit('a', 1499)).toBe(false);
    expect(d.admit('a', 1500)).toBe(true);
  });

  it('ignores failures of requests already in flight while open', () => {
    const d = new OutlierDetector();
    fail(d, 'a', 3, 0);
    expect(d.record('a', 'http-5xx', 10, group(4))).toBeNull();
    expect(d.view('a', 10)!.ejectedUntil).toBe(1000);
  });

  it('the multiplier decays after sustained health', () => {
    const d = new OutlierDetector();
    fail(d, 'a', 3, 0);
    d.admit('a', 1000);
    d.record('a', 'timeout', 1000, group(4)); // multiplier 2
    d.admit('a', 3000);
    d.record('a', 'success', 3000, group(4)); // closed at 3000 with multiplier 2
    // Failing again soon: 3 x base (capped 2500).
    const soon = fail(d, 'a', 3, 4000);
    expect(soon).toMatchObject({ until: 6500, ejections: 3 });
    d.admit('a', 6500);
    d.record('a', 'success', 6500, group(4)); // multiplier 3, closed at 6500
    // 25 s later two decay steps are gone: (3 - 2) + 1 = 2 -> 2000ms.
    const late = fail(d, 'a', 3, 31_500);
    expect(late).toMatchObject({ until: 33_500, ejections: 2 });
  });

  it('never ejects more than maxEjectionPercent of a group, but always at least one', () => {
    const d = new OutlierDetector();
    const g = (size: number, pct: number) => ({ id: 'ns/b', size, config: { ...cfg, maxEjectionPercent: pct } });
    const eject = (key: string, size: number, pct: number) => {
      let c = null;
      for (let i = 0; i < 3; i++) c = d.record(key, 'http-5xx', 0, g(size, pct)) ?? c;
      return c;
    };
    // 10% of 4: the first may go (at least one), the second may not.
    expect(eject('a', 4, 10)).not.toBeNull();
    expect(eject('b', 4, 10)).toBeNull();
    expect(d.state('b', 0)).toBe('closed');
    expect(d.view('b', 0)!.counters.ejectionsSkipped).toBe(1);
    // Raised to 50%: b can go now (2 of 4), c cannot (3 of 4).
    expect(d.record('b', 'http-5xx', 0, g(4, 50))).not.toBeNull();
    expect(eject('c', 4, 50)).toBeNull();
    // Once a recovers, c may be ejected.
    d.admit('a', 1000);
    d.record('a', 'success', 1000, g(4, 50));
    d.admit('b', 1000);
    d.record('b', 'success', 1000, g(4, 50));
    expect(d.record('c', 'http-5xx', 1000, g(4, 50))).toMatchObject({ to: 'open' });
  });

  it('groups are independent', () => {
    const d = new OutlierDetector();
    for (let i = 0; i < 3; i++) d.record('x', 'http-5xx', 0, { id: 'g1', size: 2, config: { ...cfg, maxEjectionPercent: 10 } });
    for (let i = 0; i < 3; i++) d.record('y', 'http-5xx', 0, { id: 'g2', size: 2, config: { ...cfg, maxEjectionPercent: 10 } });
    expect(d.state('x', 0)).toBe('open');
    expect(d.state('y', 0)).toBe('open');
  });

  it('works with defaults: 5 failures eject for 30s', () => {
    const d = new OutlierDetector();
    for (let i = 0; i < 4; i++) expect(d.record('k', 'connect-failure', 0)).toBeNull();
    expect(d.record('k', 'connect-failure', 0)).toMatchObject({ to: 'open', until: 30_000 });
    expect(d.admit('k', 29_999)).toBe(false);
    expect(d.admit('k', 30_000)).toBe(true);
  });

  it('unknown keys are closed and admitted', () => {
    const d = new OutlierDetector();
    expect(d.state('nope', 0)).toBe('closed');
    expect(d.admit('nope', 0)).toBe(true);
    expect(d.view('nope', 0)).toBeUndefined();
  });

  it('counts successes, failures, ejections and trials; retain forgets removed endpoints', () => {
    const d = new OutlierDetector();
    d.record('a', 'success', 0, group(2));
    fail(d, 'a', 3, 0, 'timeout', 2);
    d.admit('a', 1000);
    expect(d.view('a', 1000)!.counters).toEqual({ successes: 1, failures: 3, ejections: 1, trials: 1, ejectionsSkipped: 0 });
    expect(d.describe(1000).map((v) => v.key)).toEqual(['a']);
    d.retain(new Set());
    expect(d.describe(1000)).toEqual([]);
  });

  it('outlierConfig parses the schema durations and falls back to defaults', () => {
    expect(outlierConfig(undefined)).toEqual(DEFAULT_OUTLIER);
    expect(outlierConfig({ consecutiveFailures: 2, baseEjectionTime: '1s', maxEjectionTime: '1m', maxEjectionPercent: 100 })).toMatchObject(
      {
        consecutiveFailures: 2,
        baseEjectionMs: 1000,
        maxEjectionMs: 60_000,
        maxEjectionPercent: 100,
      },
    );
  });
});
