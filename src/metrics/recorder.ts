/**
 * Per-isolate aggregation of finished requests into (series, bucket) counts, flushed in the background. Memory is
 * bounded: at most `maxSeries` live (series, bucket) cells; samples beyond are dropped and counted. A flush hands
 * the cells over and starts afresh; a failed flush merges them back (still bounded: what does not fit is dropped
 * and counted), so a clean flush loses nothing and a failed one loses nothing it can keep.
 */
import type { BucketRecord, MetricsBatch, MetricsSink, Sample } from '../metrics.js';
import { addCounts, emptyCounts, errorIndex, latencyBucket, seriesKey } from './series.js';

export interface RecorderOptions {
  /** Bucket width (default 10 s). */
  bucketMs?: number;
  /** At most one flush per this interval per isolate (default 10 s). */
  flushMs?: number;
  /** Live (series, bucket) cells at most (default 1024). */
  maxSeries?: number;
}

/** Sends one route's batch to its metrics object; rejects when it did not arrive. */
export type Deliver = (route: string, batch: MetricsBatch) => Promise<void>;

export class MetricsRecorder implements MetricsSink {
  readonly bucketMs: number;
  readonly flushMs: number;
  readonly maxSeries: number;
  private cells = new Map<string, BucketRecord>();
  /** Samples dropped since the last flush (reported with it), and in total (for tests and logs). */
  private droppedSinceFlush = 0;
  droppedTotal = 0;
  private lastFlush = -Infinity;
  private inFlight = false;

  constructor(
    private readonly deliver: Deliver,
    opts: RecorderOptions = {},
  ) {
    this.bucketMs = opts.bucketMs ?? 10_000;
    this.flushMs = opts.flushMs ?? 10_000;
    this.maxSeries = opts.maxSeries ?? 1024;
  }

  get size(): number {
    return this.cells.size;
  }

  /** Counts one finished request (a few map lookups and increments), and starts a background flush when one is due. */
  record(s: Sample, now: number, waitUntil: (p: Promise<unknown>) => void): void {
    this.add(s, now);
    if (!this.inFlight && now - this.lastFlush >= this.flushMs) {
      if (this.lastFlush === -Infinity) {
        // The first request of an isolate starts the clock: a flush per request would otherwise follow a cold start.
        this.lastFlush = now;
        return;
      }
      waitUntil(this.flush(now));
    }
  }

  /** Counts one sample; false when it was dropped at the cap. */
  add(s: Sample, now: number): boolean {
    const start = now - (now % this.bucketMs);
    const key = `${seriesKey(s)}\u0000${start}`;
    let cell = this.cells.get(key);
    if (!cell) {
      if (this.cells.size >= this.maxSeries) {
        this.droppedSinceFlush++;
        this.droppedTotal++;
        return false;
      }
      cell = { route: s.route, rule: s.rule, backend: s.backend, cluster: s.cluster, start, width: this.bucketMs, counts: emptyCounts() };
      this.cells.set(key, cell);
    }
    const c = cell.counts;
    c.requests++;
    const cls = Math.floor(s.status / 100);
    if (cls >= 1 && cls <= 5) c.classes[cls - 1]!++;
    if (s.error !== undefined && s.status >= 500) c.gatewayErrors[errorIndex(s.error)]!++;
    c.latency[latencyBucket(s.ms)]!++;
    c.latencySumMs += s.ms;
    return true;
  }

  /** Takes every cell, grouped by route, and forgets them (merge them back with `restore` if delivery fails). */
  take(): Map<string, MetricsBatch> {
    const byRoute = new Map<string, MetricsBatch>();
    for (const cell of this.cells.values()) {
      let b = byRoute.get(cell.route);
      if (!b) byRoute.set(cell.route, (b = { records: [], droppedSamples: 0 }));
      b.records.push(cell);
    }
    // Dropped samples have no series: the count rides with the first route's batch (kept until there is one).
    const first = byRoute.values().next().value;
    if (first) {
      first.droppedSamples = this.droppedSinceFlush;
      this.droppedSinceFlush = 0;
    }
    this.cells = new Map();
    return byRoute;
  }

  /** Merges an undelivered batch back in (cells that no longer fit are dropped and counted). */
  restore(batch: MetricsBatch): void {
    this.droppedSinceFlush += batch.droppedSamples;
    for (const r of batch.records) {
      const key = `${seriesKey(r)}\u0000${r.start}`;
      const cell = this.cells.get(key);
      if (cell) addCounts(cell.counts, r.counts);
      else if (this.cells.size < this.maxSeries) this.cells.set(key, r);
      else {
        this.droppedSinceFlush += r.counts.requests;
        this.droppedTotal += r.counts.requests;
      }
    }
  }

  /** Delivers everything counted so far, one call per route in parallel; what fails is merged back for the next flush. */
  async flush(now: number): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    this.lastFlush = now;
    try {
      const batches = this.take();
      await Promise.all(
        [...batches].map(async ([route, batch]) => {
          try {
            await this.deliver(route, batch);
          } catch {
            this.restore(batch);
          }
        }),
      );
    } finally {
      this.inFlight = false;
    }
  }
}
