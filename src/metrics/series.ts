/** Series arithmetic: the fixed latency buckets, merging counts, and quantiles from a histogram (Prometheus style). */
import type { SeriesCounts, SeriesId, SeriesSummary } from '../metrics.js';

/** Upper bounds (ms) of the latency buckets; a last, implicit +Inf bucket follows. Enough for P50/P90/P99. */
export const LATENCY_BUCKETS_MS: readonly number[] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

export const emptyCounts = (): SeriesCounts => ({
  requests: 0,
  classes: [0, 0, 0, 0, 0],
  gatewayErrors: [0, 0, 0],
  latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
  latencySumMs: 0,
});

/** Adds `b` into `a` (arrays of foreign length are added as far as both go, so old data never throws). */
export function addCounts(a: SeriesCounts, b: SeriesCounts): void {
  a.requests += b.requests;
  for (let i = 0; i < a.classes.length && i < b.classes.length; i++) a.classes[i]! += b.classes[i]!;
  for (let i = 0; i < a.gatewayErrors.length && i < b.gatewayErrors.length; i++) a.gatewayErrors[i]! += b.gatewayErrors[i]!;
  for (let i = 0; i < a.latency.length && i < b.latency.length; i++) a.latency[i]! += b.latency[i]!;
  a.latencySumMs += b.latencySumMs;
}

/** Index of the latency bucket a duration falls in (le semantics). */
export function latencyBucket(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]!) return i;
  return LATENCY_BUCKETS_MS.length;
}

/** Gateway error codes that mean the upstream could not be reached, or did not answer in time. */
const CONNECT = new Set(['upstream_unreachable']);
const TIMEOUT = new Set(['upstream_timeout', 'request_timeout']);

export function errorIndex(code: string): number {
  return CONNECT.has(code) ? 0 : TIMEOUT.has(code) ? 1 : 2;
}

/** "route\0rule\0backend\0cluster": NUL cannot occur in any of them. */
export const seriesKey = (s: SeriesId): string => `${s.route}\u0000${s.rule}\u0000${s.backend}\u0000${s.cluster}`;

/**
 * The q-quantile from the histogram, interpolated linearly inside its bucket as Prometheus' histogram_quantile does.
 * Null without data; Infinity when it falls in the +Inf bucket (slower than every bound: fails any latency limit).
 */
export function quantileMs(latency: readonly number[], q: number): number | null {
  let total = 0;
  for (const c of latency) total += c;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    const n = latency[i]!;
    if (n > 0 && seen + n >= rank) {
      if (i >= LATENCY_BUCKETS_MS.length) return Infinity;
      const lower = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
      const upper = LATENCY_BUCKETS_MS[i]!;
      return lower + ((upper - lower) * (rank - seen)) / n;
    }
    seen += n;
  }
  return Infinity;
}

/** Failed requests: 5xx answers (gateway-produced errors answer 5xx too, so they are in there). */
export const failures = (c: SeriesCounts): number => c.classes[4]!;

export function summarize(id: SeriesId, c: SeriesCounts): SeriesSummary {
  const p = (q: number) => {
    const v = quantileMs(c.latency, q);
    return v === Infinity ? null : v;
  };
  return {
    route: id.route,
    rule: id.rule,
    backend: id.backend,
    cluster: id.cluster,
    requests: c.requests,
    responses: { '1xx': c.classes[0]!, '2xx': c.classes[1]!, '3xx': c.classes[2]!, '4xx': c.classes[3]!, '5xx': c.classes[4]! },
    gatewayErrors: { connect: c.gatewayErrors[0]!, timeout: c.gatewayErrors[1]!, other: c.gatewayErrors[2]! },
    errorRate: c.requests ? failures(c) / c.requests : 0,
    latency: {
      bucketsMs: [...LATENCY_BUCKETS_MS],
      counts: [...c.latency],
      sumMs: c.latencySumMs,
      p50Ms: p(0.5),
      p90Ms: p(0.9),
      p99Ms: p(0.99),
    },
  };
}
