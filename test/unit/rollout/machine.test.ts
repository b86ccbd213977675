import { describe, expect, it } from 'vitest';
import type { SeriesCounts } from '../../../src/metrics.js';
import { analyze, effectiveAnalysis, statsOf } from '../../../src/rollout/analysis.js';
import { applyVerb, checkWindow, start, tick } from '../../../src/rollout/machine.js';
import { emptyCounts, latencyBucket } from '../../../src/metrics/series.js';
import { Rollout } from '../../../src/schema/rollout.js';

/** Counts of `n` requests, `errors` of them 5xx, all taking `ms`. */
function counts(n: number, errors = 0, ms = 20): SeriesCounts {
  const c = emptyCounts();
  c.requests = n;
  c.classes[1] = n - errors;
  c.classes[4] = errors;
  c.latency[latencyBucket(ms)] = n;
  c.latencySumMs = n * ms;
  return c;
}

const rollout = (
  analysis: Record<string, unknown> = {},
  steps = [
    { weight: 10, hold: '20s' },
    { weight: 50, hold: '20s' },
  ],
) =>
  Rollout.parse({
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'shop' },
    spec: {
      targetRef: { name: 'shop', rule: 0 },
      stableRef: { name: 'blue' },
      canaryRef: { name: 'green' },
      steps,
      analysis: { interval: '10s', minRequests: 20, maxErrorRate: 1, threshold: 2, ...analysis },
    },
  }).spec;

describe('analysis', () => {
  const cfg = effectiveAnalysis(rollout({ maxP99Latency: '200ms', maxP99Ratio: 2 }).analysis, undefined);
  it('holds on too few canary requests, even when all of them failed', () => {
    expect(analyze(cfg, statsOf(counts(19, 19)), statsOf(counts(200))).verdict).toBe('insufficient');
  });
  it('holds when a comparison with the stable lacks stable traffic', () => {
    expect(analyze(cfg, statsOf(counts(50)), statsOf(counts(3))).verdict).toBe('insufficient');
  });
  it('fails on error rate, absolute latency and the ratio to the stable, with reasons', () => {
    const errors = analyze(cfg, statsOf(counts(100, 2)), statsOf(counts(900)));
    expect(errors.verdict).toBe('fail');
    expect(errors.reasons.join()).toMatch(/error rate 2\.00% \(max 1\.00%\)/);
    const slow = analyze(cfg, statsOf(counts(100, 0, 400)), statsOf(counts(900, 0, 400)));
    expect(slow.reasons.join()).toMatch(/P99 .* \(max 200ms\)/);
    const ratio = analyze(cfg, statsOf(counts(100, 0, 150)), statsOf(counts(900, 0, 20)));
    expect(ratio.verdict).toBe('fail');
    expect(ratio.reasons.join()).toMatch(/x stable/);
  });
  it('passes a canary as good as the stable', () => {
    expect(analyze(cfg, statsOf(counts(100, 0, 20)), statsOf(counts(900, 0, 20))).verdict).toBe('pass');
  });
  it('skips comparisons when the stable gets no traffic (a 100% step)', () => {
    expect(analyze(cfg, statsOf(counts(100, 0, 20)), statsOf(counts(0)), false).verdict).toBe('pass');
  });
});

describe('rollout machine', () => {
  const spec = rollout();
  it('starts at the first step and checks only after an interval', () => {
    const s = start(spec, 0);
    expect(s.effect).toEqual({ weights: { stable: 90, canary: 10 }, release: false });
    expect(tick(spec, s.status, 5000, { canary: counts(100), stable: counts(900) }).status).toBe(s.status);
  });

  it('holds a step forever on low data: never passes it', () => {
    let st = start(spec, 0).status;
    for (let t = 10_000; t <= 600_000; t += 10_000) {
      const next = tick(spec, st, t, { canary: counts(5), stable: counts(900) });
      expect(next.effect).toBeNull();
      st = next.status;
    }
    expect(st.step).toBe(0);
    expect(st.phase).toBe('Progressing');
    expect(st.lastAnalysis?.verdict).toBe('insufficient');
    expect(st.message).toMatch(/holds/);
  });

  it('aborts to 100% stable after threshold failed checks in a row, not before', () => {
    let st = start(spec, 0).status;
    const bad = { canary: counts(100, 10), stable: counts(900) };
    const first = tick(spec, st, 10_000, bad);
    expect(first.effect).toBeNull();
    expect(first.status.failedChecks).toBe(1);
    // A pass in between resets the count: threshold counts failures in a row.
    st = tick(spec, first.status, 20_000, { canary: counts(100), stable: counts(900) }).status;
    expect(st.failedChecks).toBe(0);
    st = tick(spec, st, 30_000, bad).status;
    const abort = tick(spec, st, 40_000, bad);
    expect(abort.status.phase).toBe('Aborted');
    expect(abort.effect).toEqual({ weights: { stable: 100, canary: 0 }, release: true });
    expect(abort.status.message).toMatch(/aborted after 2 failed checks/);
  });

  it('moves through every step after its hold and promotes the canary at the end', () => {
    let t = start(spec, 0);
    const good = { canary: counts(100), stable: counts(900) };
    const weights: number[] = [t.effect!.weights.canary];
    for (let now = 10_000; now <= 100_000 && t.status.phase === 'Progressing'; now += 10_000) {
      t = tick(spec, t.status, now, good);
      if (t.effect) weights.push(t.effect.weights.canary);
    }
    expect(weights).toEqual([10, 50, 100]);
    expect(t.status.phase).toBe('Promoted');
    expect(t.effect?.release).toBe(true);
  });

  it('reads only traffic of the current step', () => {
    let t = start(spec, 0);
    for (let now = 10_000; t.status.step === 0; now += 10_000) t = tick(spec, t.status, now, { canary: counts(100), stable: counts(900) });
    const stepStart = t.status.stepStartedAt;
    expect(checkWindow(spec, t.status, stepStart + 4000)).toEqual({ from: stepStart, to: stepStart + 4000 });
    expect(checkWindow(spec, t.status, stepStart + 30_000)).toEqual({ from: stepStart + 20_000, to: stepStart + 30_000 });
  });

  it('pause stops checks, resume restarts them, abort and promote end it; verbs out of phase are refused', () => {
    const s = start(spec, 0).status;
    const paused = applyVerb(spec, s, 'pause', 1000);
    if (!paused.ok) throw new Error(paused.error);
    expect(paused.transition.status.phase).toBe('Paused');
    expect(tick(spec, paused.transition.status, 60_000, { canary: counts(100, 100), stable: counts(900) }).effect).toBeNull();
    expect(applyVerb(spec, paused.transition.status, 'pause', 2000).ok).toBe(false);
    const resumed = applyVerb(spec, paused.transition.status, 'resume', 2000);
    if (!resumed.ok) throw new Error(resumed.error);
    expect(resumed.transition.status.nextCheckAt).toBe(12_000);
    const promoted = applyVerb(spec, resumed.transition.status, 'promote', 3000);
    if (!promoted.ok) throw new Error(promoted.error);
    expect(promoted.transition.effect).toEqual({ weights: { stable: 0, canary: 100 }, release: true });
    expect(applyVerb(spec, promoted.transition.status, 'abort', 4000).ok).toBe(false);
    const aborted = applyVerb(spec, s, 'abort', 1000);
    expect(aborted.ok && aborted.transition.effect).toEqual({ weights: { stable: 100, canary: 0 }, release: true });
  });
});

describe('Rollout schema', () => {
  it('is strict and refuses a canary equal to the stable and decreasing steps', () => {
    const base = {
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'x' },
      spec: {
        targetRef: { name: 'r', rule: 0 },
        stableRef: { name: 'a' },
        canaryRef: { name: 'a' },
        steps: [
          { weight: 50, hold: '1m' },
          { weight: 10, hold: '1m' },
        ],
      },
    };
    const r = Rollout.safeParse(base);
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('spec.canaryRef.name');
    expect(paths).toContain('spec.steps.1.weight');
    expect(
      Rollout.safeParse({ ...base, spec: { ...base.spec, canaryRef: { name: 'b' }, steps: [{ weight: 10, hold: '1m' }], extra: 1 } })
        .success,
    ).toBe(false);
  });
});
