/** The request context every stage reads and writes, the gateway's dependencies, and the stage contract. */
import type { ClientLocation } from '../balancing.js';
import type { IsolateHealth } from '../health/registry.js';
import type { MetricsSink } from '../metrics.js';
import { degradedResponse, type DegradedCode } from '../proxy/errors.js';
import type { RateLimiterNamespaceLike } from '../ratelimit.js';
import type { RouteMatch } from '../routing.js';
import type { PathPolicy } from '../routing/normalize.js';
import type { Backend } from '../schema.js';
import type { SecurityDecision } from '../security/policy.js';
import type { SecurityRefusal } from '../security/refusal.js';
import type { BackendPlan, CompiledTable, RefPlan, RulePlan } from '../table.js';
import type { SessionKey } from './session.js';

export interface GatewayDeps {
  health: IsolateHealth;
  fetch: (request: Request) => Promise<Response>;
  now: () => number;
  rand: () => number;
  log: (line: Record<string, unknown>) => void;
  /**
   * Writes one ready JSON log line. When given, the access log builds its line as a string of a fixed shape (the
   * same fields `log` would get, "at" first) instead of an object for `log`.
   */
  writeLine?: ((json: string) => void) | undefined;
  /** Share of successful requests (status < 400, no gateway error) whose access-log line is written; default 1. */
  logSampleSuccess?: number | undefined;
  debugHeaders: boolean;
  /** Background work that may outlive the response (mirrors, refreshes). */
  waitUntil: (p: Promise<unknown>) => void;
  /** Called with the Backend a request is about to use, so its active health can be pulled in the background. */
  observeBackend?: (backend: Backend) => void;
  /** The RATE_LIMITER namespace; routes with a RateLimitPolicy need it. */
  rateLimiter?: RateLimiterNamespaceLike | undefined;
  /** Path normalisation and escaped-slash policy (default: Envoy Gateway's, see src/routing/normalize.ts). */
  pathPolicy?: PathPolicy | undefined;
  /** Traffic metrics (src/metrics): the stage in src/app/stages/metrics.ts records each matched request here. */
  metrics?: MetricsSink | undefined;
}

/** What the access log reports about a request; stages fill it in as they go. */
export interface Served {
  route?: string;
  backend?: string;
  cluster?: string;
  endpoint?: string;
  attempts?: number;
  error?: DegradedCode | 'rate_limited' | SecurityRefusal;
  /** Why the security stage refused the request (never the credential). */
  reason?: string;
  /** Served in panic mode (failover.panicThreshold): health was ignored for endpoints that still connect. */
  panic?: boolean;
}

/** The backend-choice stage's decision, read by the forward and response stages. */
export interface Choice {
  ref: RefPlan;
  /** The Backend that serves: the chosen one, or its fallback when nothing of it is usable. */
  backend: BackendPlan;
  panic: boolean;
  /** Present for rules with sessionPersistence. */
  session: SessionKey | undefined;
  /** Where the client is (empty unless the rule's Backends have several endpoints). */
  client: ClientLocation;
}

/** One request on its way through the stages (src/app/pipeline.ts). */
export interface RequestContext {
  readonly request: Request;
  /** Parsed once; the normalise stage replaces its pathname with the normalised path. */
  readonly url: URL;
  readonly deps: GatewayDeps;
  readonly table: CompiledTable | undefined;
  readonly requestId: string;
  readonly started: number;
  /** Host for matching: lowercase, port removed (set by the normalise stage). */
  host: string;
  match: RouteMatch | undefined;
  plan: RulePlan | undefined;
  choice: Choice | undefined;
  /** The security stage's decision for a rule with a SecurityPolicy: credentials out and identity in at the forward stage. */
  security: SecurityDecision | undefined;
  /** The upstream's answer as the forward stage received it (the response stage decorates only this one). */
  upstream: Response | undefined;
  readonly served: Served;
}

/** The rest of the pipeline after a stage. */
export type Next = (ctx: RequestContext) => Promise<Response>;
/**
 * A stage's per-request work: answer itself, or call next (once) and possibly decorate what comes back. A handler
 * that only hands on (or answers without waiting) is a plain function returning next's promise, not an async one:
 * each async frame adds a promise and its resolution ticks to every request (bench/ops.ts measured −15 µs CPU per
 * request with a real upstream when six stages stopped being async).
 */
export type Handler = (ctx: RequestContext, next: Next) => Promise<Response>;

/** One request stage: `build` runs once per table version and returns the handler (null: nothing to do for this table). */
export interface Stage {
  name: string;
  build(table: CompiledTable | undefined): Handler | null;
}

export function createContext(request: Request, table: CompiledTable | undefined, deps: GatewayDeps): RequestContext {
  return {
    request,
    url: new URL(request.url),
    deps,
    table,
    requestId: crypto.randomUUID(),
    started: deps.now(),
    host: '',
    match: undefined,
    plan: undefined,
    choice: undefined,
    security: undefined,
    upstream: undefined,
    served: {},
  };
}

/** A degraded answer (src/proxy/errors.ts), recorded for the access log. */
export function fail(ctx: RequestContext, code: DegradedCode, detail?: string, headers?: HeadersInit): Response {
  ctx.served.error = code;
  const { served, requestId, deps } = ctx;
  return degradedResponse(code, { route: served.route, backend: served.backend, requestId, detail, debug: deps.debugHeaders }, headers);
}

const NOWHERE: ClientLocation = {};

/** Where the client is (request.cf), only read when the rule's choice can depend on it (RulePlan.locality). */
export function clientLocation(request: Request, plan: RulePlan): ClientLocation {
  if (!plan.locality) return NOWHERE;
  const cf = (request as { cf?: IncomingRequestCfProperties }).cf;
  const lat = cf?.latitude !== undefined ? Number(cf.latitude) : NaN;
  const lon = cf?.longitude !== undefined ? Number(cf.longitude) : NaN;
  return {
    ...(Number.isFinite(lat) && Number.isFinite(lon) ? { latitude: lat, longitude: lon } : {}),
    ...(cf?.continent ? { continent: String(cf.continent) } : {}),
  };
}
