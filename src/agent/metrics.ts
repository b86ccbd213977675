/** Prometheus metrics of one agent (own registry, so several agents can run in one test process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Cap on per-object refusal series: any namespace user can create refused objects, so label sets stay bounded. */
export const REFUSED_OBJECT_SERIES = 200;

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
    refusals: new Counter({
      name: 'edgeway_agent_refused_objects_total',
      help: 'Objects whose claim was refused, by first reason; counted once when a refusal starts or its reason changes.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    refused: new Gauge({
      name: 'edgeway_agent_refused_objects',
      help: 'Objects currently refused (nothing of them is reported), by first reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    refusedObject: new Gauge({
      name: 'edgeway_agent_refused_object',
      help: `1 per currently refused object (at most ${REFUSED_OBJECT_SERIES}; the full list is on /status).`,
      labelNames: ['kind', 'namespace', 'name', 'reason'],
      registers: [registry],
    }),
    edgeRefused: new Gauge({
      name: 'edgeway_agent_edge_refused_endpoints',
      help: 'Endpoints of the last push the edge recorded but does not serve (see the agent.edge_refused log).',
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
