import { describe, expect, it } from 'vitest';
import { initialHysteresis, observeProbe, probeFailureReason } from '../../../src/health/hysteresis.js';
import type { HysteresisState, ProbeResult, Thresholds } from '../../../src/health.js';

const t: Thresholds = { healthyThreshold: 2, unhealthyThreshold: 3, expectedStatuses: [200] };
const ok = (at: number): ProbeResult => ({ at, status: 200 });
const bad = (at: number): ProbeResult => ({ at, error: 'connect-failure', detail: 'refused' });
const s503 = (at: number): ProbeResult => ({ at, status: 503 });

function run(results: ProbeResult[], start: HysteresisState = initialHysteresis(), th = t) {
  let s = start;
  const changes: { at: number; to: string; reason: string }[] = [];
  for (const r of results) {
    const tr = observeProbe(s, r, th);
    if (tr.changed) changes.push({ at: r.at, to: tr.next.state, reason: tr.reason });
    s = tr.next;
  }
  return { s, changes };
}

describe('observeProbe', () => {
  it('classifies at once from unknown', () => {
    expect(run([ok(0)]).s.state).toBe('healthy');
    expect(run([bad(0)]).s.state).toBe('unhealthy');
    expect(run([bad(0)]).changes[0]!.reason).toContain('first probe failed');
  });

  it('healthy -> unhealthy only after unhealthyThreshold consecutive failures', () => {
    const { s, changes } = run([ok(0), bad(1), bad(2)]);
    expect(s.state).toBe('healthy');
    expect(s.consecutiveFailures).toBe(2);
    const after = run([bad(3)], s);
    expect(after.s.state).toBe('unhealthy');
    expect(after.changes).toEqual([{ at: 3, to: 'unhealthy', reason: '3 consecutive failed probes (last: connect-failure: refused)' }]);
    expect(changes).toHaveLength(1); // only unknown -> healthy
  });

  it('a status outside expectedStatuses counts as a failure', () => {
    const { s } = run([ok(0), s503(1), s503(2), s503(3)]);
    expect(s.state).toBe('unhealthy');
    expect(s.reason).toContain('status 503 not in [200]');
    expect(run([{ at: 0, status: 204 }], initialHysteresis(), { ...t, expectedStatuses: [200, 204] }).s.state).toBe('healthy');
  });

  it('a success resets the failure count', () => {
    const { s } = run([ok(0), bad(1), bad(2), ok(3), bad(4), bad(5)]);
    expect(s.state).toBe('healthy');
    expect(s.consecutiveFailures).toBe(2);
  });

  it('unhealthy -> healthy after healthyThreshold consecutive successes; a failure resets', () => {
    const { s, changes } = run([bad(0), ok(1), bad(2), ok(3), ok(4)]);
    expect(s.state).toBe('healthy');
    expect(changes.map((c) => [c.at, c.to])).toEqual([
      [0, 'unhealthy'],
      [4, 'healthy'],
    ]);
    expect(changes[1]!.reason).toBe('2 consecutive passed probes');
    expect(s.changedAt).toBe(4);
  });

  it('does not flap: alternating results never change an established state', () => {
    const seq = Array.from({ length: 50 }, (_, i) => (i % 2 ? bad(i + 1) : ok(i + 1)));
    const { changes } = run(seq, run([ok(0)]).s);
    expect(changes).toEqual([]);
  });

  it('at most one change per threshold window for any sequence', () => {
    // Deterministic pseudo-random sequences of results.
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      const seq = Array.from({ length: 100 }, (_, i) => (rand() < 0.5 ? ok(i) : bad(i)));
      const { changes } = run(seq);
      for (let i = 2; i < changes.length; i++) {
        // After the initial classification, consecutive changes are at least min(threshold) results apart.
        expect(changes[i]!.at - changes[i - 1]!.at).toBeGreaterThanOrEqual(Math.min(t.healthyThreshold, t.unhealthyThreshold));
      }
      expect(changes.length).toBeLessThanOrEqual(1 + Math.floor(100 / Math.min(t.healthyThreshold, t.unhealthyThreshold)));
    }
  });

  it('threshold 1 follows every result', () => {
    const th = { ...t, healthyThreshold: 1, unhealthyThreshold: 1 };
    expect(run([ok(0), bad(1), ok(2), bad(3)], initialHysteresis(), th).changes).toHaveLength(4);
  });

  it('probeFailureReason names the cause', () => {
    expect(probeFailureReason({ at: 0, status: 200 }, [200])).toBeNull();
    expect(probeFailureReason({ at: 0, error: 'timeout' }, [200])).toBe('timeout');
    expect(probeFailureReason({ at: 0 }, [200])).toBe('no status');
  });
});
