/**
 * One canary check, pure: the canary's and the stable's counts in the same window against the step's thresholds.
 * Too few canary requests is "insufficient" (Flagger's "no values found"): the step holds, it never passes on it.
 * Comparisons with the stable need the stable to have enough requests too, unless the stable gets no traffic.
 */
import type { SeriesCounts } from '../metrics.js';
import type { RolloutAnalysis } from '../schema/rollout.js';
import { parseDuration } from '../schema/duration.js';
import { failures, quantileMs } from '../metrics/series.js';
import type { EffectiveAnalysis, Verdict, WindowStats } from '../rollout.js';

export function effectiveAnalysis(base: RolloutAnalysis, override: Partial<RolloutAnalysis> | undefined): EffectiveAnalysis {
  const a = { ...base, ...(override ?? {}) };
  return {
    intervalMs: parseDuration(a.interval),
    minRequests: a.minRequests,
    maxErrorRate: a.maxErrorRate === undefined ? undefined : a.maxErrorRate / 100,
    maxErrorRateIncrease: a.maxErrorRateIncrease === undefined ? undefined : a.maxErrorRateIncrease / 100,
    maxP99Ms: a.maxP99Latency === undefined ? undefined : parseDuration(a.maxP99Latency),
    maxP99Ratio: a.maxP99Ratio,
    threshold: a.threshold,
  };
}

export function statsOf(c: SeriesCounts): WindowStats {
  const f = failures(c);
  return { requests: c.requests, failures: f, errorRate: c.requests ? f / c.requests : 0, p99Ms: quantileMs(c.latency, 0.99) };
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (x: number | null) => (x === null ? 'n/a' : x === Infinity ? `>${30000}ms` : `${Math.round(x)}ms`);

/**
 * The verdict and every reason behind it. `stableServes`: the stable has weight in this step (comparisons need it).
 */
export function analyze(
  cfg: EffectiveAnalysis,
  canary: WindowStats,
  stable: WindowStats,
  stableServes = true,
): { verdict: Verdict; reasons: string[] } {
  if (canary.requests < cfg.minRequests)
    return { verdict: 'insufficient', reasons: [`canary had ${canary.requests} requests, a check needs ${cfg.minRequests}: holding`] };
  const relative = cfg.maxErrorRateIncrease !== undefined || cfg.maxP99Ratio !== undefined;
  if (relative && stableServes && stable.requests < cfg.minRequests)
    return {
      verdict: 'insufficient',
      reasons: [`stable had ${stable.requests} requests, a comparison needs ${cfg.minRequests}: holding`],
    };
  const failed: string[] = [];
  const passed: string[] = [];
  const check = (bad: boolean, text: string) => (bad ? failed : passed).push(text);
  if (cfg.maxErrorRate !== undefined)
    check(canary.errorRate > cfg.maxErrorRate, `error rate ${pct(canary.errorRate)} (max ${pct(cfg.maxErrorRate)})`);
  if (cfg.maxErrorRateIncrease !== undefined && stableServes)
    check(
      canary.errorRate - stable.errorRate > cfg.maxErrorRateIncrease,
      `error rate ${pct(canary.errorRate)} vs stable ${pct(stable.errorRate)} (max +${pct(cfg.maxErrorRateIncrease)})`,
    );
  if (cfg.maxP99Ms !== undefined) check((canary.p99Ms ?? 0) > cfg.maxP99Ms, `P99 ${ms(canary.p99Ms)} (max ${cfg.maxP99Ms}ms)`);
  if (cfg.maxP99Ratio !== undefined && stableServes) {
    const c = canary.p99Ms ?? 0;
    // A stable P99 of 0 (sub-millisecond) would make every ratio infinite: compare with at least 1 ms.
    const s = Math.max(1, stable.p99Ms ?? 0);
    const ratio = c / s;
    check(
      ratio > cfg.maxP99Ratio,
      `P99 ${ms(canary.p99Ms)} = ${ratio === Infinity ? 'inf' : ratio.toFixed(2)}x stable ${ms(stable.p99Ms)} (max ${cfg.maxP99Ratio}x)`,
    );
  }
  if (failed.length) return { verdict: 'fail', reasons: failed.map((r) => `failed: ${r}`) };
  return { verdict: 'pass', reasons: passed.length ? passed.map((r) => `ok: ${r}`) : ['ok: no thresholds configured'] };
}
