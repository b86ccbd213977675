import { describe, expect, it } from 'vitest';
import type { MetricsBatch, Sample } from '../../../src/metrics.js';
import { MetricsRecorder } from '../../../src/metrics/recorder.js';
import { LATENCY_BUCKETS_MS, quantileMs } from '../../../src/metrics/series.js';
import { MetricsWindow } from '../../../src/metrics/window.js';

const sample = (over: Partial<Sample> = {}): Sample => ({
  route: 'default/shop',
  rule: 'rule0',
  backend: 'default/blue',
  cluster: 'aws',
  status: 200,
  error: undefined,
  ms: 12,
  ...over,
});

const total = (batches: MetricsBatch[]) => batches.flatMap((b) => b.records).reduce((n, r) => n + r.counts.requests, 0);

describe('MetricsRecorder', () => {
  it('counts requests by class, gateway errors and latency bucket per series and bucket', () => {
    const r = new MetricsRecorder(async () => {}, { bucketMs: 10_000 });
    r.add(sample(), 1000);
    r.add(sample({ status: 503, error: 'upstream_unreachable', ms: 3 }), 2000);
    r.add(sample({ status: 504, error: 'upstream_timeout', ms: 40_000 }), 3000);
    r.add(sample({ backend: 'default/green' }), 4000);
    r.add(sample(), 11_000); // next bucket
    const batches = r.take();
    const records = batches.get('default/shop')!.records;
    expect(records).toHaveLength(3);
    const blue0 = records.find((x) => x.backend === 'default/blue' && x.start === 0)!;
    expect(blue0.counts.requests).toBe(3);
    expect(blue0.counts.classes).toEqual([0, 1, 0, 0, 2]);
    expect(blue0.counts.gatewayErrors).toEqual([1, 1, 0]);
    expect(blue0.counts.latency[0]).toBe(1); // 3 ms
    expect(blue0.counts.latency[2]).toBe(1); // 12 ms
    expect(blue0.counts.latency[LATENCY_BUCKETS_MS.length]).toBe(1); // 40 s: +Inf
    expect(r.size).toBe(0);
  });

  it('caps live cells and counts what it drops', () => {
    const r = new MetricsRecorder(async () => {}, { maxSeries: 4 });
    for (let i = 0; i < 10; i++) r.add(sample({ cluster: `c${i}` }), 0);
    r.add(sample({ cluster: 'c0' }), 0); // an existing cell still counts
    expect(r.size).toBe(4);
    expect(r.droppedTotal).toBe(6);
    const b = r.take().get('default/shop')!;
    expect(b.droppedSamples).toBe(6);
    expect(total([b])).toBe(5);
  });

  it('loses nothing on a clean flush and merges a failed delivery back for the next one', async () => {
    const delivered: MetricsBatch[] = [];
    let fail = true;
    const r = new MetricsRecorder(
      async (_route, batch) => {
        if (fail) throw new Error('down');
        delivered.push(batch);
      },
      { flushMs: 1000 },
    );
    for (let i = 0; i < 50; i++) r.add(sample({ route: i % 2 ? 'default/a' : 'default/b' }), 100);
    await r.flush(200); // fails: merged back
    expect(delivered).toHaveLength(0);
    expect(r.size).toBe(2);
    for (let i = 0; i < 10; i++) r.add(sample({ route: 'default/a' }), 150); // same bucket: merges into the restored cell
    fail = false;
    await r.flush(1300);
    expect(total(delivered)).toBe(60);
    expect(r.size).toBe(0);
  });

  it('flushes from record() in the background at most once per interval, never on the first request', () => {
    const jobs: Promise<unknown>[] = [];
    const r = new MetricsRecorder(async () => {}, { flushMs: 1000 });
    const wait = (p: Promise<unknown>) => jobs.push(p);
    r.record(sample(), 0, wait);
    r.record(sample(), 500, wait);
    expect(jobs).toHaveLength(0);
    r.record(sample(), 1000, wait);
    expect(jobs).toHaveLength(1);
    r.record(sample(), 1100, wait);
    expect(jobs).toHaveLength(1);
  });
});

describe('MetricsWindow and quantiles', () => {
  it('merges batches, answers ranges by bucket start and prunes past the window', () => {
    const r = new MetricsRecorder(async () => {}, { bucketMs: 1000 });
    for (let t = 0; t < 5000; t += 100) r.add(sample(), t);
    const w = new MetricsWindow(3000);
    w.merge(r.take().get('default/shop')!, 5000);
    // Buckets that ended before the window (0, 1000) go to the totals only.
    expect([...w.query(0, 5000).values()][0]!.counts.requests).toBe(30);
    expect([...w.query(3000, 4000).values()][0]!.counts.requests).toBe(10);
    expect(w.prune(7000).sort()).toEqual([2000, 3000]);
    expect([...w.totals.values()][0]!.counts.requests).toBe(50); // totals are monotonic
  });

  it('interpolates quantiles inside the bucket and says Infinity past the last bound', () => {
    const lat = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
    lat[4] = 100; // (50, 100]
    expect(quantileMs(lat, 0.5)).toBe(75);
    expect(quantileMs(lat, 0.99)).toBeCloseTo(99.5);
    lat[LATENCY_BUCKETS_MS.length] = 2;
    expect(quantileMs(lat, 0.99)).toBe(Infinity);
    expect(quantileMs(new Array(13).fill(0), 0.99)).toBeNull();
  });
});
