/** Admin API for traffic metrics and rollouts (mounted by src/admin/app.ts): JSON and Prometheus reads, rollout verbs. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { Namespace, ObjectName } from '../schema/common.js';
import { objectKey, resourceKey } from '../schema/keys.js';
import type { Resource } from '../schema/snapshot.js';
import type { Rollout } from '../schema/rollout.js';
import { exposition } from '../metrics/prometheus.js';
import { metricsObject } from '../metrics/sink.js';
import type { RolloutDO } from '../rollout/durable-object.js';
import { Problem } from './api.js';
import { operatorAuth, type AdminBindings } from './auth.js';
import type { CoordinatorDO } from './durable-object.js';
import { COORDINATOR_NAME, type AdminEnv } from './env.js';

/** Routes one metrics read fans out to at most (one MetricsDO call each). */
export const MAX_ROUTES_PER_READ = 200;
export const MAX_MINUTES = 60;

const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });
const problem = (description: string) => json(Problem, description);
const bearer = [{ bearer: [] }];

const coordinator = (env: AdminEnv): DurableObjectStub<CoordinatorDO> => {
  const ns = env.COORDINATOR;
  if (!ns) throw new HTTPException(503, { message: 'COORDINATOR binding is missing' });
  return ns.get(ns.idFromName(COORDINATOR_NAME));
};

const rolloutObject = (env: AdminEnv, key: string): DurableObjectStub<RolloutDO> => {
  const ns = env.ROLLOUTS;
  if (!ns) throw new HTTPException(503, { message: 'ROLLOUTS binding is missing' });
  return ns.get(ns.idFromName(key));
};

const metricsNs = (env: AdminEnv) => {
  if (!env.METRICS) throw new HTTPException(503, { message: 'METRICS binding is missing' });
  return env.METRICS;
};

/** Starts every published Rollout that is new or changed (each RolloutDO ignores an unchanged one). */
export async function syncRollouts(env: AdminEnv): Promise<void> {
  if (!env.ROLLOUTS) return;
  const rollouts = (await coordinator(env).published('Rollout')) as Rollout[];
  await Promise.all(rollouts.map((r) => rolloutObject(env, resourceKey(r)).apply(r)));
}

const RouteKey = z
  .string()
  .max(317)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be "namespace/name" of an HTTPRoute');

const Stats = z.object({ requests: z.number(), failures: z.number(), errorRate: z.number(), p99Ms: z.number().nullable() });
const Analysis = z.object({
  at: z.string(),
  step: z.number().int(),
  window: z.object({ from: z.string(), to: z.string() }),
  verdict: z.enum(['pass', 'fail', 'insufficient']),
  reasons: z.array(z.string()),
  canary: Stats,
  stable: Stats,
});
export const RolloutInfo = z.object({
  name: z.string(),
  namespace: z.string(),
  target: z.object({ route: z.string(), rule: z.string() }).nullable(),
  stable: z.string().describe('"namespace/name" of the stable backendRef'),
  canary: z.string(),
  phase: z.enum(['Pending', 'Progressing', 'Paused', 'Aborted', 'Promoted', 'Failed']),
  step: z.number().int().describe('1-based'),
  steps: z.number().int(),
  weights: z.object({ stable: z.number(), canary: z.number() }).nullable().describe('Percent of the stable+canary weight'),
  failedChecks: z.number().int(),
  threshold: z.number().int(),
  lastAnalysis: Analysis.nullable(),
  message: z.string().describe('Why the rollout is where it is'),
  updatedAt: z.string().nullable(),
  nextCheckAt: z.string().nullable(),
});

export const SeriesSummary = z.object({
  route: z.string(),
  rule: z.string(),
  backend: z.string(),
  cluster: z.string(),
  requests: z.number(),
  responses: z.object({ '1xx': z.number(), '2xx': z.number(), '3xx': z.number(), '4xx': z.number(), '5xx': z.number() }),
  gatewayErrors: z.object({ connect: z.number(), timeout: z.number(), other: z.number() }),
  errorRate: z.number(),
  latency: z.object({
    bucketsMs: z.array(z.number()),
    counts: z.array(z.number()).describe('Per bucket (le), then +Inf'),
    sumMs: z.number(),
    p50Ms: z.number().nullable(),
    p90Ms: z.number().nullable(),
    p99Ms: z.number().nullable(),
  }),
});

const MetricsResult = z.object({
  from: z.string(),
  to: z.string(),
  routes: z.array(z.string()),
  series: z.array(SeriesSummary),
});

async function publishedRouteKeys(env: AdminEnv): Promise<string[]> {
  const routes = (await coordinator(env).published('HTTPRoute')) as Resource[];
  return routes.map(resourceKey).sort().slice(0, MAX_ROUTES_PER_READ);
}

export function registerRolloutRoutes(app: OpenAPIHono<AdminBindings>): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      summary: 'Traffic per route rule, backendRef and cluster over the last N minutes (JSON)',
      security: bearer,
      middleware: [operatorAuth] as const,
      request: {
        query: z.strictObject({
          route: RouteKey.optional().describe(`"namespace/name"; omitted: every published route (at most ${MAX_ROUTES_PER_READ})`),
          minutes: z.coerce.number().int().min(1).max(MAX_MINUTES).default(5),
        }),
      },
      responses: {
        200: json(MetricsResult, 'Series, one per (route, rule, backend, cluster)'),
        400: problem('Invalid query'),
        401: problem('Missing or wrong token'),
      },
    }),
    async (c) => {
      const { route, minutes } = c.req.valid('query');
      const to = Date.now() + 1;
      const from = to - minutes * 60_000;
      const routes = route ? [route] : await publishedRouteKeys(c.env);
      const ns = metricsNs(c.env);
      const series = (await Promise.all(routes.map((r) => metricsObject(ns, r).summaries({ from, to })))).flat();
      return c.json({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), routes, series }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics/prometheus',
      summary: 'Counters and latency histograms of every published route in Prometheus text format',
      description: 'Labels: route, rule, backend, cluster (and code, error, le). No per-path or per-client labels.',
      security: bearer,
      middleware: [operatorAuth] as const,
      responses: {
        200: { content: { 'text/plain': { schema: z.string() } }, description: 'Text exposition format 0.0.4' },
        401: problem('Missing or wrong token'),
      },
    }),
    async (c) => {
      const routes = await publishedRouteKeys(c.env);
      const ns = metricsNs(c.env);
      const all = await Promise.all(routes.map(async (route) => ({ route, ...(await metricsObject(ns, route).totals()) })));
      return c.text(exposition(all), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/rollouts',
      summary: 'Rollouts: phase, step, weights, last analysis and why',
      security: bearer,
      middleware: [operatorAuth] as const,
      responses: { 200: json(z.array(RolloutInfo), 'Every published Rollout'), 401: problem('Missing or wrong token') },
    }),
    async (c) => {
      const rollouts = (await coordinator(c.env).published('Rollout')) as Rollout[];
      const views = await Promise.all(rollouts.map((r) => rolloutObject(c.env, resourceKey(r)).view()));
      return c.json(views, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/rollouts/{namespace}/{name}/{verb}',
      summary: 'pause, resume, abort (100% stable now) or promote (100% canary now, analysis skipped) a rollout',
      security: bearer,
      middleware: [operatorAuth] as const,
      request: {
        params: z.strictObject({ namespace: Namespace, name: ObjectName, verb: z.enum(['pause', 'resume', 'abort', 'promote']) }),
      },
      responses: {
        200: json(RolloutInfo, 'The rollout after the verb'),
        400: problem('Invalid parameters'),
        401: problem('Missing or wrong token'),
        404: problem('No such rollout'),
        409: problem('Not possible in its phase, or the coordinator refused the weights'),
        503: problem('Coordinator unreachable: try again'),
      },
    }),
    async (c) => {
      const { namespace, name, verb } = c.req.valid('param');
      const key = objectKey(namespace, name);
      const published = ((await coordinator(c.env).published('Rollout')) as Rollout[]).some((r) => resourceKey(r) === key);
      if (!published) return c.json({ error: `rollout ${key} is not published` }, 404);
      const out = await rolloutObject(c.env, key).verb(verb);
      if (!out.ok) return c.json({ error: out.error }, out.status);
      return c.json(out.rollout, 200);
    },
  );
}
