/**
 * Traffic metrics (src/metrics): every request that matched a rule is counted per (rule, backendRef, cluster) with its
 * final status, the gateway's own error and its duration. Counting is a few map operations in this isolate; the
 * flush to the route's MetricsDO happens in the background (waitUntil), never on the request path.
 */
import type { MetricsSink } from '../../metrics.js';
import type { Next, RequestContext, Stage } from '../context.js';

/** Counts the final answer of a matched request: its status, or 500 when a stage below threw. */
async function counted(ctx: RequestContext, next: Next, sink: MetricsSink): Promise<Response> {
  let status = 500;
  try {
    const response = await next(ctx);
    status = response.status;
    return response;
  } finally {
    const plan = ctx.plan;
    // Unmatched requests have no rule: they are the access log's business, and would add an unbounded series.
    if (plan) {
      const { deps, served } = ctx;
      const now = deps.now();
      sink.record(
        {
          route: plan.routeKey,
          rule: plan.id.slice(plan.routeKey.length + 1),
          backend: served.backend ?? '',
          cluster: served.cluster ?? '',
          status,
          error: served.error,
          ms: now - ctx.started,
        },
        now,
        deps.waitUntil,
      );
    }
  }
}

export const metrics: Stage = {
  name: 'metrics',
  build: (table) =>
    table
      ? (ctx, next) => {
          const sink = ctx.deps.metrics;
          return sink ? counted(ctx, next, sink) : next(ctx);
        }
      : null,
};
