/**
 * POST /explain: which route, rule, backend and endpoint a request would get, and why. It runs the gateway's own
 * stages (normalize, match, redirect, backend choice from src/app/pipeline.ts) over this isolate's compiled table
 * and health, then stops before the rate limit and the upstream: nothing is counted, sent or forwarded.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import type { ClientLocation, EndpointFilter, TierLoads } from '../balancing.js';
import { chooseEndpoint } from '../balancing/endpoint.js';
import { endpointKey, type IsolateHealth } from '../health/registry.js';
import { panicLoads } from '../health/panic.js';
import { priorityLoads } from '../health/spill.js';
import { DEGRADED } from '../proxy/errors.js';
import { requestHostFromHeader } from '../routing/hostname.js';
import { pathPolicyFrom } from '../routing/normalize.js';
import { resourceKey } from '../schema/keys.js';
import type { BackendPlan, CompiledTable, RulePlan } from '../table.js';
import { createContext, type GatewayDeps } from '../app/context.js';
import { compose } from '../app/pipeline.js';
import { chooseBackend, endpointUsable, panicEligible } from '../app/stages/backend.js';
import { match } from '../app/stages/match.js';
import { normalize } from '../app/stages/normalize.js';
import { redirect } from '../app/stages/redirect.js';
import { Problem } from './api.js';
import { operatorAuth, type AdminBindings } from './auth.js';
import type { AdminEnv } from './env.js';

/** What the Worker serves with: its per-isolate table cache and health registry (src/app/index.ts provides them). */
export interface ExplainSource {
  /** The table that serves `host` (a sharded table loads that host's shard). */
  table(env: AdminEnv, ctx: { waitUntil(p: Promise<unknown>): void }, host: string): Promise<CompiledTable | undefined>;
  health: IsolateHealth;
}

let source: ExplainSource | undefined;
/** Called once by src/app/index.ts, so the admin module never imports the app that mounts it (no cycle). */
export function provideExplainSource(s: ExplainSource): void {
  source = s;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const ExplainBody = z.strictObject({
  host: z.string().min(1).max(255).describe('Host header the client would send (port allowed).'),
  path: z.string().startsWith('/').max(8192).default('/').describe('Path and query, e.g. "/orders?id=1".'),
  method: z.enum(METHODS).default('GET'),
  headers: z
    .record(z.string().min(1).max(128), z.string().max(4096))
    .refine((h) => Object.keys(h).length <= 64, 'at most 64 headers')
    .default({})
    .describe('Request headers (session cookie, header matches). Host comes from `host`.'),
  client: z
    .strictObject({
      latitude: z.number().min(-90).max(90),
      longitude: z.number().min(-180).max(180),
      continent: z.string().max(2).optional(),
    })
    .optional()
    .describe('Where the client is; default: where this request to the admin API came from (request.cf).'),
});
export type ExplainBody = z.infer<typeof ExplainBody>;

const Step = z.object({ stage: z.string(), outcome: z.string(), detail: z.string() });
const EndpointRow = z.object({
  url: z.string(),
  cluster: z.string(),
  region: z.string().optional(),
  priority: z.number().int(),
  weight: z.number(),
  usable: z.boolean(),
  reasons: z.array(z.string()),
  share: z.number().describe('Approximate share of requests (0..1) this endpoint gets right now, from the same chooser.'),
});

export const Explanation = z.object({
  version: z.number().int().nullable().describe('Table version explained (null: no table loaded).'),
  request: z.object({ host: z.string(), path: z.string(), method: z.string() }),
  outcome: z
    .enum(['forward', 'redirect', 'refused'])
    .describe('forward: would go upstream; redirect: answered at the edge; refused: a degraded answer (status, code)'),
  status: z.number().int().optional().describe('The status the gateway would answer with (redirects and refusals).'),
  code: z.string().optional().describe('Degraded-answer code, e.g. no_route (refusals).'),
  location: z.string().optional(),
  route: z
    .object({
      key: z.string(),
      rule: z.string().describe('Plan id: namespace/name/<rule name or ruleN>'),
      ruleIndex: z.number().int(),
      matchIndex: z.number().int(),
      matchedHostname: z.string(),
      match: z.unknown().describe('The HTTPRouteMatch entry that selected the rule'),
    })
    .optional(),
  policies: z.array(z.object({ kind: z.string(), key: z.string() })).describe('RateLimit and Security policies on the rule'),
  backendRefs: z
    .array(z.object({ key: z.string(), weight: z.number(), share: z.number(), chosen: z.boolean() }))
    .describe("The rule's split; `chosen` is this draw (or the sticky session's ref)"),
  session: z.object({ name: z.string(), presented: z.boolean() }).optional(),
  backend: z
    .object({ key: z.string(), fallbackFrom: z.string().optional(), panic: z.boolean(), endpoints: z.array(EndpointRow) })
    .optional(),
  endpoint: z.object({ url: z.string(), cluster: z.string(), region: z.string().optional(), backend: z.string() }).nullable().optional(),
  steps: z.array(Step).describe('Each stage in order and what it decided, in words'),
});
export type Explanation = z.infer<typeof Explanation>;

/** Grid points per random draw: the chooser's shares, to within 1/GRID, without randomness. */
const GRID = 40;

/** How often each (pool, endpoint) would be drawn, by running the gateway's chooser over a grid of draws. */
function endpointShares(
  pools: readonly BackendPlan[],
  usableIn: (b: BackendPlan) => EndpointFilter,
  tierLoadsOf: (b: BackendPlan) => TierLoads,
  client: ClientLocation,
) {
  const counts = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < GRID; i++)
    for (let j = 0; j < GRID; j++) {
      const draws = [(i + 0.5) / GRID, (j + 0.5) / GRID];
      let n = 0;
      for (const pool of pools) {
        const choice = chooseEndpoint(pool.backend.spec.endpoints, {
          usable: usableIn(pool),
          client,
          rand: () => draws[Math.min(n++, 1)]!,
          tierLoads: tierLoadsOf(pool),
        });
        if (!choice) continue;
        const k = `${pool.key}#${choice.index}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
        break;
      }
      total++;
    }
  return (pool: BackendPlan, index: number) => (counts.get(`${pool.key}#${index}`) ?? 0) / total;
}

function policiesOf(table: CompiledTable, plan: RulePlan): { kind: string; key: string }[] {
  const out = plan.rateLimits.map((p) => ({ kind: 'RateLimitPolicy', key: p.id }));
  for (const sp of table.snapshot.securityPolicies) {
    const hits = sp.spec.targetRefs.some(
      (t) =>
        t.kind === 'HTTPRoute' &&
        `${sp.metadata.namespace}/${t.name}` === plan.routeKey &&
        (t.sectionName === undefined || t.sectionName === plan.ruleName),
    );
    if (hits) out.push({ kind: 'SecurityPolicy', key: resourceKey(sp) });
  }
  return out;
}

/** The explanation itself: pure over the table, health and clock (the route handler supplies them). */
export async function explain(
  body: ExplainBody,
  table: CompiledTable | undefined,
  deps: Pick<GatewayDeps, 'health' | 'now' | 'rand' | 'pathPolicy'> & { cf?: unknown },
): Promise<Explanation> {
  const headers = new Headers(body.headers);
  headers.set('host', body.host);
  // request.cf is where the client is (nearest-region choice): the caller's own location unless the body names one.
  const init = { method: body.method, headers, ...(deps.cf ? { cf: deps.cf } : {}) } as RequestInit;
  const request = new Request(`https://explain.invalid${body.path}`, init);
  const steps: Explanation['steps'] = [];
  const full: GatewayDeps = {
    ...deps,
    fetch: () => Promise.reject(new Error('explain never forwards')),
    log: () => {},
    debugHeaders: true,
    waitUntil: () => {},
  };
  const ctx = createContext(request, table, full);
  let reached = false;
  const terminal = compose([
    ...[normalize, match, redirect, chooseBackend].map((s) => s.build(table)).filter((h) => h !== null),
    async () => {
      reached = true;
      return new Response(null, { status: 204 });
    },
  ]);
  const response = await terminal(ctx);
  const out: Explanation = {
    version: table?.version ?? null,
    request: { host: ctx.host || body.host, path: ctx.url.pathname + ctx.url.search, method: body.method },
    outcome: reached
      ? 'forward'
      : response.status >= 300 && response.status < 400 && response.headers.has('location')
        ? 'redirect'
        : 'refused',
    policies: [],
    backendRefs: [],
    steps,
  };
  steps.push({
    stage: 'normalize',
    outcome: ctx.host ? 'ok' : 'refused',
    detail: ctx.host ? `host "${ctx.host}", path "${ctx.url.pathname}"` : (ctx.served.error ?? 'refused'),
  });
  if (!reached && !ctx.match && out.outcome === 'redirect') {
    out.status = response.status;
    out.location = response.headers.get('location') ?? '';
    steps[0]!.detail += `; path normalisation redirects to ${out.location}`;
    return out;
  }
  const m = ctx.match;
  const plan = ctx.plan;
  if (m && plan && table) {
    out.route = {
      key: m.routeKey,
      rule: plan.id,
      ruleIndex: m.ruleIndex,
      matchIndex: m.matchIndex,
      matchedHostname: m.matchedHostname,
      match: m.match,
    };
    out.policies = policiesOf(table, plan);
    steps.push({
      stage: 'match',
      outcome: 'matched',
      detail: `${plan.id} (rules[${m.ruleIndex}].matches[${m.matchIndex}]${m.matchedHostname ? `, hostname ${m.matchedHostname}` : ', no hostnames'}): ${JSON.stringify(m.match)}`,
    });
    // The security stage (src/app/stages/security.ts) sits between match and the rate limit; explain names the policy
    // but never checks credentials (that would fetch JWKS and judge the caller's own headers as a client's).
    const security = out.policies.filter((p) => p.kind === 'SecurityPolicy').map((p) => p.key);
    if (security.length)
      steps.push({ stage: 'security', outcome: 'applies', detail: `${security.join(', ')} (credentials not checked by explain)` });
    if (plan.rateLimits.length)
      steps.push({
        stage: 'ratelimit',
        outcome: 'applies',
        detail: `${plan.rateLimits.map((p) => p.id).join(', ')} (not counted by explain)`,
      });
    const totalWeight = plan.refs.reduce((n, r) => n + r.weight, 0);
    out.backendRefs = plan.refs.map((r) => ({
      key: r.key,
      weight: r.weight,
      share: totalWeight > 0 ? r.weight / totalWeight : 0,
      chosen: ctx.choice?.ref === r,
    }));
  } else if (ctx.host) {
    steps.push({
      stage: 'match',
      outcome: 'no route',
      detail: table ? `no rule matches ${body.method} ${ctx.host}${ctx.url.pathname}` : 'no table loaded',
    });
  }
  if (out.outcome === 'redirect') {
    out.status = response.status;
    out.location = response.headers.get('location') ?? '';
    steps.push({ stage: 'redirect', outcome: 'answered', detail: `${response.status} to ${out.location}` });
    return out;
  }
  if (!reached) {
    const code = ctx.served.error;
    out.status = response.status;
    if (code) {
      out.code = code;
      steps.push({
        stage: 'answer',
        outcome: 'refused',
        detail: `${response.status} ${code}: ${DEGRADED[code as keyof typeof DEGRADED]?.message ?? ''}`,
      });
    }
    return out;
  }
  const choice = ctx.choice!;
  const sessionCfg = plan!.session;
  if (sessionCfg && choice.session) {
    out.session = { name: choice.session.name, presented: !choice.session.minted };
    steps.push({
      stage: 'backend',
      outcome: 'sticky',
      detail: choice.session.minted
        ? `no ${choice.session.name} presented: a new session would be drawn by weight, then stick (this draw: ${choice.ref.key})`
        : `session ${choice.session.name} hashes to ${choice.ref.key}`,
    });
  } else {
    steps.push({
      stage: 'backend',
      outcome: 'weighted',
      detail: `drawn by weight: ${out.backendRefs.map((r) => `${r.key} ${Math.round(r.share * 100)}%`).join(', ')} (this draw: ${choice.ref.key})`,
    });
  }
  const serving = choice.backend;
  if (serving !== choice.ref.backend)
    steps.push({
      stage: 'backend',
      outcome: 'fallback',
      detail: `nothing of ${choice.ref.key} is usable: its fallback ${serving.key} serves`,
    });
  if (choice.panic)
    steps.push({
      stage: 'backend',
      outcome: 'panic',
      detail: `under the ${serving.panicThreshold}% panic threshold: every endpoint that still connects may serve`,
    });

  // The forward stage's endpoint draw (src/app/stages/forward.ts): pools in order, the same usable test and tier loads.
  const { health } = deps;
  const at = deps.now();
  const usableIn = (b: BackendPlan): EndpointFilter =>
    choice.panic ? (ep) => panicEligible(health, b.backend, ep, at) : (ep) => endpointUsable(health, b.backend, ep, at);
  const tierLoadsOf = (b: BackendPlan): TierLoads =>
    choice.panic ? panicLoads : (tiers) => priorityLoads(tiers, b.overprovisioningFactor);
  const shareOf = endpointShares(serving.pools, usableIn, tierLoadsOf, choice.client);
  out.backend = {
    key: serving.key,
    ...(serving !== choice.ref.backend ? { fallbackFrom: choice.ref.key } : {}),
    panic: choice.panic,
    endpoints: serving.pools.flatMap((pool) =>
      pool.backend.spec.endpoints.map((ep, i) => {
        const v = health.verdict(endpointKey(pool.backend, ep), ep, pool.backend, at);
        return {
          url: ep.url,
          cluster: ep.cluster,
          ...(ep.region ? { region: ep.region } : {}),
          priority: ep.priority,
          weight: ep.weight,
          usable: v.usable || v.trial,
          reasons: ep.weight === 0 ? ['weight 0', ...v.reasons] : v.reasons,
          share: shareOf(pool, i),
        };
      }),
    ),
  };
  let pick: { url: string; cluster: string; region?: string; backend: string } | null = null;
  for (const pool of serving.pools) {
    const c = chooseEndpoint(pool.backend.spec.endpoints, {
      usable: usableIn(pool),
      client: choice.client,
      rand: deps.rand,
      tierLoads: tierLoadsOf(pool),
    });
    if (!c) continue;
    pick = {
      url: c.endpoint.url,
      cluster: c.endpoint.cluster,
      ...(c.endpoint.region ? { region: c.endpoint.region } : {}),
      backend: pool.key,
    };
    break;
  }
  out.endpoint = pick;
  const shares = out.backend.endpoints
    .filter((e) => e.share > 0)
    .map((e) => `${e.cluster} ≈${Math.round(e.share * 100)}%`)
    .join(', ');
  const excluded = out.backend.endpoints.filter((e) => !e.usable).map((e) => `${e.cluster} (${e.reasons.join('; ') || 'not usable'})`);
  steps.push({
    stage: 'endpoint',
    outcome: pick ? 'chosen' : 'none usable',
    detail: pick
      ? `lowest usable priority tier (with spill), nearest region, then weight: ${shares} (this draw: ${pick.cluster})${excluded.length ? `; excluded: ${excluded.join(', ')}` : ''}`
      : `no endpoint of ${serving.key} is usable: ${excluded.join(', ')}`,
  });
  return out;
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });

export function registerExplainRoute(app: OpenAPIHono<AdminBindings>): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/explain',
      summary: 'Explain a request: route, rule, backend and endpoint choice, and why (nothing is sent upstream)',
      description:
        "Runs the gateway's own normalize, match, redirect and backend-choice stages over this isolate's compiled table and health. Rate limits are named, never counted.",
      security: [{ bearer: [] }],
      middleware: [operatorAuth] as const,
      request: { body: { ...json(ExplainBody, 'The request to explain'), required: true } },
      responses: {
        200: json(Explanation, 'What the gateway would do with it'),
        400: json(Problem, 'Invalid body'),
        401: json(Problem, 'Missing or wrong token'),
      },
    }),
    async (c) => {
      if (!source) throw new HTTPException(503, { message: 'explain is not wired to the gateway in this build' });
      const body = c.req.valid('json');
      const table = await source.table(c.env, c.executionCtx, requestHostFromHeader(body.host.toLowerCase()));
      const out = await explain(body, table, {
        health: source.health,
        now: Date.now,
        rand: Math.random,
        pathPolicy: pathPolicyFrom(c.env),
        cf: body.client ?? (c.req.raw as { cf?: unknown }).cf,
      });
      return c.json(out, 200);
    },
  );
}
