/** Prometheus metrics of one agent (own registry, so several agents can run in one test process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    reconciles: new Counter({
      name: 'edgeway_agent_reconciles_total',
      help: 'Reconcile runs by result (unchanged, pushed, error, standby).',
      labelNames: ['result'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'edgeway_agent_errors_total',
      help: 'Errors by kind (soft = retried, fatal = exit).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    events: new Counter({
      name: 'edgeway_agent_watch_events_total',
      help: 'Informer events by resource.',
      labelNames: ['resource'],
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: 'edgeway_agent_watch_restarts_total',
      help: 'Informer restarts by resource and cause (error, stall).',
      labelNames: ['resource', 'cause'],
      registers: [registry],
    }),
    skipped: new Gauge({
      name: 'edgeway_agent_skipped_resources',
      help: 'Annotated resources that could not be mapped to an endpoint.',
      registers: [registry],
    }),
    endpoints: new Gauge({ name: 'edgeway_agent_endpoints', help: 'Endpoints the edge holds for this cluster.', registers: [registry] }),
    leader: new Gauge({ name: 'edgeway_agent_leader', help: '1 while this replica holds the Lease.', registers: [registry] }),
    lastSync: new Gauge({
      name: 'edgeway_agent_last_sync_timestamp_seconds',
      help: 'Last time the edge was confirmed in sync.',
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'edgeway_agent_reconcile_duration_seconds',
      help: 'Reconcile duration, push included.',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
  return m;
}
export type AgentMetrics = ReturnType<typeof createMetrics>;
