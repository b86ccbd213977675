/**
 * The rolling window one metrics object keeps for its route: (series, bucket) counts for the last `windowMs`, plus
 * monotonic totals per series for Prometheus counters. Pure: the clock is a parameter; the Durable Object persists
 * the buckets `merge` reports as changed.
 */
import type { BucketRecord, MetricsBatch, SeriesCounts, SeriesId, SeriesSummary } from '../metrics.js';
import { addCounts, emptyCounts, seriesKey, summarize } from './series.js';

export const DEFAULT_WINDOW_MS = 60 * 60_000;
/** Series one route may have (rules x backendRefs x clusters); more are dropped and counted. */
export const MAX_SERIES_PER_ROUTE = 512;

export interface Totals extends SeriesId {
  counts: SeriesCounts;
}

export class MetricsWindow {
  /** bucket start -> series key -> record. */
  readonly buckets = new Map<number, Map<string, BucketRecord>>();
  readonly totals = new Map<string, Totals>();
  droppedSamples = 0;

  constructor(readonly windowMs = DEFAULT_WINDOW_MS) {}

  /** Adds a batch; returns the bucket starts it changed. Records older than the window are counted in totals only. */
  merge(batch: MetricsBatch, now: number): Set<number> {
    const changed = new Set<number>();
    this.droppedSamples += batch.droppedSamples;
    const oldest = now - this.windowMs;
    for (const r of batch.records) {
      const key = seriesKey(r);
      let total = this.totals.get(key);
      if (!total) {
        if (this.totals.size >= MAX_SERIES_PER_ROUTE) {
          this.droppedSamples += r.counts.requests;
          continue;
        }
        this.totals.set(key, (total = { route: r.route, rule: r.rule, backend: r.backend, cluster: r.cluster, counts: emptyCounts() }));
      }
      addCounts(total.counts, r.counts);
      if (r.start + r.width <= oldest) continue;
      let bucket = this.buckets.get(r.start);
      if (!bucket) this.buckets.set(r.start, (bucket = new Map()));
      const cell = bucket.get(key);
      if (cell) addCounts(cell.counts, r.counts);
      else bucket.set(key, { ...r, counts: { ...emptyCounts(), ...structuredClone(r.counts) } });
      changed.add(r.start);
    }
    return changed;
  }

  /** Forgets buckets that ended before the window; returns their starts. */
  prune(now: number): number[] {
    const gone: number[] = [];
    for (const [start, bucket] of this.buckets) {
      const width = bucket.values().next().value?.width ?? 0;
      if (start + width <= now - this.windowMs) {
        this.buckets.delete(start);
        gone.push(start);
      }
    }
    return gone;
  }

  /**
   * Counts per series over buckets that start in [from, to) (a bucket is in when it starts inside the range: the
   * analysis asks for whole buckets after a weight change, so traffic of the previous step never counts).
   */
  query(from: number, to: number, filter: (s: SeriesId) => boolean = () => true): Map<string, Totals> {
    const out = new Map<string, Totals>();
    for (const [start, bucket] of this.buckets) {
      if (start < from || start >= to) continue;
      for (const [key, r] of bucket) {
        if (!filter(r)) continue;
        let t = out.get(key);
        if (!t) out.set(key, (t = { route: r.route, rule: r.rule, backend: r.backend, cluster: r.cluster, counts: emptyCounts() }));
        addCounts(t.counts, r.counts);
      }
    }
    return out;
  }

  summaries(from: number, to: number, filter?: (s: SeriesId) => boolean): SeriesSummary[] {
    return [...this.query(from, to, filter).values()].map((t) => summarize(t, t.counts)).sort(bySeries);
  }

  /** The newest bucket's end: data exists up to here. */
  latest(): number | null {
    let max: number | null = null;
    for (const [start, bucket] of this.buckets) {
      const end = start + (bucket.values().next().value?.width ?? 0);
      max = max === null ? end : Math.max(max, end);
    }
    return max;
  }
}

export const bySeries = (a: SeriesId, b: SeriesId) =>
  a.route.localeCompare(b.route) ||
  a.rule.localeCompare(b.rule) ||
  a.backend.localeCompare(b.backend) ||
  a.cluster.localeCompare(b.cluster);
