/**
 * Prometheus text exposition (format 0.0.4) of the metrics objects' totals. A tiny formatter instead of prom-client:
 * prom-client is built for a long-lived Node process (it imports node:cluster, node:v8, process metrics) and is
 * Node-only here (the agent uses it); the Worker only needs to print counters and one histogram.
 */
import type { Totals } from './window.js';
import { LATENCY_BUCKETS_MS } from './series.js';

/** Label values escaped as the format requires (backslash, double quote, newline). */
export const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

const labels = (pairs: [string, string][]) => `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const ERRORS = ['connect', 'timeout', 'other'];

export interface RouteTotals {
  route: string;
  totals: Totals[];
  droppedSamples: number;
}

export function exposition(routes: readonly RouteTotals[]): string {
  const out: string[] = [];
  const series = routes.flatMap((r) => r.totals);
  const base = (t: Totals): [string, string][] => [
    ['route', t.route],
    ['rule', t.rule],
    ['backend', t.backend],
    ['cluster', t.cluster],
  ];
  out.push('# HELP edgeway_requests_total Requests answered, per route rule, backendRef, cluster and status class.');
  out.push('# TYPE edgeway_requests_total counter');
  for (const t of series)
    t.counts.classes.forEach((n, i) => {
      if (n > 0) out.push(`edgeway_requests_total${labels([...base(t), ['code', CLASSES[i]!]])} ${n}`);
    });
  out.push('# HELP edgeway_gateway_errors_total Errors the gateway produced (connect failure, timeout, other).');
  out.push('# TYPE edgeway_gateway_errors_total counter');
  for (const t of series)
    t.counts.gatewayErrors.forEach((n, i) => {
      if (n > 0) out.push(`edgeway_gateway_errors_total${labels([...base(t), ['error', ERRORS[i]!]])} ${n}`);
    });
  out.push('# HELP edgeway_request_duration_seconds Time from the request to its answer at the edge.');
  out.push('# TYPE edgeway_request_duration_seconds histogram');
  for (const t of series) {
    let cumulative = 0;
    LATENCY_BUCKETS_MS.forEach((le, i) => {
      cumulative += t.counts.latency[i] ?? 0;
      out.push(`edgeway_request_duration_seconds_bucket${labels([...base(t), ['le', String(le / 1000)]])} ${cumulative}`);
    });
    cumulative += t.counts.latency[LATENCY_BUCKETS_MS.length] ?? 0;
    out.push(`edgeway_request_duration_seconds_bucket${labels([...base(t), ['le', '+Inf']])} ${cumulative}`);
    out.push(`edgeway_request_duration_seconds_sum${labels(base(t))} ${t.counts.latencySumMs / 1000}`);
    out.push(`edgeway_request_duration_seconds_count${labels(base(t))} ${cumulative}`);
  }
  out.push('# HELP edgeway_metrics_dropped_samples_total Requests not counted because a series cap was reached.');
  out.push('# TYPE edgeway_metrics_dropped_samples_total counter');
  for (const r of routes) out.push(`edgeway_metrics_dropped_samples_total${labels([['route', r.route]])} ${r.droppedSamples}`);
  return `${out.join('\n')}\n`;
}
