/** Traffic metrics: what the gateway counts per (route rule, backendRef, cluster) and time bucket. Types only. */

/** The labels of one series: a small, bounded set (no paths, no clients). */
export interface SeriesId {
  /** "namespace/name" of the HTTPRoute. */
  route: string;
  /** The rule's name, or its index when unnamed. */
  rule: string;
  /** "namespace/name" of the backendRef that served ("" when none was chosen). */
  backend: string;
  /** Cluster of the endpoint that answered ("" when none was reached). */
  cluster: string;
}

/** Counts of one series in one bucket; arrays so merging is a loop and the JSON stays small. */
export interface SeriesCounts {
  requests: number;
  /** Responses by class: index 0 = 1xx ... 4 = 5xx. */
  classes: number[];
  /** Errors the gateway produced: [connect failure, timeout, other (no endpoint, bad config)]. */
  gatewayErrors: number[];
  /** Latency histogram: one count per LATENCY_BUCKETS_MS bound (le), then +Inf. */
  latency: number[];
  latencySumMs: number;
}

/** One series' counts in one time bucket [start, start + width). */
export interface BucketRecord extends SeriesId {
  start: number;
  width: number;
  counts: SeriesCounts;
}

/** What one isolate flushes to one route's metrics object. */
export interface MetricsBatch {
  records: BucketRecord[];
  /** Samples this isolate could not count because its series cap was reached (since its last flush). */
  droppedSamples: number;
}

/** What the request already knows when it is done. */
export interface Sample extends SeriesId {
  status: number;
  /** The gateway's own error code (src/proxy/errors.ts), if it produced one. */
  error: string | undefined;
  ms: number;
}

/** Where the gateway's metrics stage puts a finished request. Never blocks the request. */
export interface MetricsSink {
  record(sample: Sample, now: number, waitUntil: (p: Promise<unknown>) => void): void;
}

/** Totals of one series over a window, as the admin API and the rollout analysis read them. */
export interface SeriesSummary extends SeriesId {
  requests: number;
  responses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  gatewayErrors: { connect: number; timeout: number; other: number };
  /** 5xx answers and gateway errors over requests (0 when there were none). */
  errorRate: number;
  latency: { bucketsMs: number[]; counts: number[]; sumMs: number; p50Ms: number | null; p90Ms: number | null; p99Ms: number | null };
}
