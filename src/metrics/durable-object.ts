/**
 * MetricsDO: one object per HTTPRoute ("namespace/name"), holding that route's rolling window (src/metrics/window.ts).
 * Per route, not per Backend: a rollout compares stable and canary of one rule in the same window, which is then one
 * read of one object; isolates flush one batch per route; and a Backend shared by many routes would make one hot
 * object of every route's traffic.
 */
import { DurableObject } from 'cloudflare:workers';
import type { BucketRecord, MetricsBatch, SeriesSummary } from '../metrics.js';
import { MetricsWindow, type Totals } from './window.js';

/** How often stale buckets are deleted. */
export const PRUNE_INTERVAL_MS = 60_000;

export interface MetricsQuery {
  from: number;
  to: number;
  rule?: string | undefined;
}

/** The object's behaviour over a DurableObjectState (tests can drive it directly). */
export class MetricsStore {
  private window = new MetricsWindow();

  constructor(private readonly ctx: DurableObjectState) {
    void ctx.blockConcurrencyWhile(() => this.load());
  }

  private async load() {
    const s = this.ctx.storage;
    const [buckets, totals, dropped] = await Promise.all([
      s.list<BucketRecord[]>({ prefix: 'bucket:' }),
      s.get<Totals[]>('totals'),
      s.get<number>('dropped'),
    ]);
    const w = new MetricsWindow();
    for (const t of totals ?? []) w.totals.set(`${t.route}\u0000${t.rule}\u0000${t.backend}\u0000${t.cluster}`, t);
    for (const records of buckets.values()) {
      // Rebuild buckets without touching totals (they were persisted with the records already in them).
      for (const r of records) {
        let b = w.buckets.get(r.start);
        if (!b) w.buckets.set(r.start, (b = new Map()));
        b.set(`${r.route}\u0000${r.rule}\u0000${r.backend}\u0000${r.cluster}`, r);
      }
    }
    w.droppedSamples = dropped ?? 0;
    this.window = w;
  }

  async ingest(batch: MetricsBatch): Promise<void> {
    const now = Date.now();
    const changed = this.window.merge(batch, now);
    const puts: Record<string, unknown> = { totals: [...this.window.totals.values()], dropped: this.window.droppedSamples };
    for (const start of changed) puts[`bucket:${start}`] = [...(this.window.buckets.get(start)?.values() ?? [])];
    await this.ctx.storage.put(puts);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + PRUNE_INTERVAL_MS);
  }

  async summaries(q: MetricsQuery): Promise<SeriesSummary[]> {
    return this.window.summaries(q.from, q.to, q.rule === undefined ? undefined : (s) => s.rule === q.rule);
  }

  /** Raw counts per series in [from, to) for one rule (the rollout analysis aggregates them). */
  async counts(q: MetricsQuery): Promise<Totals[]> {
    return [...this.window.query(q.from, q.to, q.rule === undefined ? undefined : (s) => s.rule === q.rule).values()];
  }

  /** Monotonic totals since the object was created (Prometheus counters) and samples dropped at caps. */
  async totals(): Promise<{ totals: Totals[]; droppedSamples: number }> {
    return { totals: [...this.window.totals.values()], droppedSamples: this.window.droppedSamples };
  }

  async alarm(): Promise<void> {
    try {
      const gone = this.window.prune(Date.now());
      if (gone.length) await this.ctx.storage.delete(gone.map((s) => `bucket:${s}`));
    } finally {
      // Alarms do not repeat: keep pruning while there is anything to prune.
      if (this.window.buckets.size) await this.ctx.storage.setAlarm(Date.now() + PRUNE_INTERVAL_MS);
    }
  }
}

export class MetricsDO extends DurableObject<unknown> {
  private readonly store: MetricsStore;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.store = new MetricsStore(ctx);
  }

  override alarm() {
    return this.store.alarm();
  }
  ingest(batch: MetricsBatch) {
    return this.store.ingest(batch);
  }
  summaries(q: MetricsQuery) {
    return this.store.summaries(q);
  }
  counts(q: MetricsQuery) {
    return this.store.counts(q);
  }
  totals() {
    return this.store.totals();
  }
}
