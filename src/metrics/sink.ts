/** The isolate's recorder, delivering each route's batch to that route's MetricsDO (binding METRICS). */
import type { MetricsBatch, MetricsSink } from '../metrics.js';
import type { MetricsDO } from './durable-object.js';
import { MetricsRecorder } from './recorder.js';

export type MetricsNamespace = DurableObjectNamespace<MetricsDO>;

/** The route's metrics object (named by "namespace/name"). */
export const metricsObject = (ns: MetricsNamespace, route: string) => ns.get(ns.idFromName(route));

const recorders = new WeakMap<MetricsNamespace, MetricsRecorder>();

export interface SinkSettings {
  /** METRICS_BUCKET_SECONDS (default 10). */
  bucketSeconds?: string | undefined;
  /** METRICS_FLUSH_SECONDS (default 10). */
  flushSeconds?: string | undefined;
}

const seconds = (v: string | undefined, fallback: number) => {
  const n = Number(v);
  return v !== undefined && Number.isFinite(n) && n > 0 ? n * 1000 : fallback;
};

/** One recorder per isolate (per binding): created on the first request, then reused. */
export function isolateMetrics(ns: MetricsNamespace, settings: SinkSettings = {}): MetricsRecorder & MetricsSink {
  let r = recorders.get(ns);
  if (!r) {
    r = new MetricsRecorder((route: string, batch: MetricsBatch) => metricsObject(ns, route).ingest(batch), {
      bucketMs: seconds(settings.bucketSeconds, 10_000),
      flushMs: seconds(settings.flushSeconds, 10_000),
    });
    recorders.set(ns, r);
  }
  return r;
}
