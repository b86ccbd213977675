/** The routing table an isolate serves (types only): a snapshot from KV compiled once per version into lookup structures. */
import type { CompiledPolicy, PolicyIndex } from './ratelimit.js';
import type { RouteMatch, RouteMatcher } from './routing.js';
import type {
  Backend,
  Endpoint,
  HeaderModifier,
  HTTPBackendRef,
  HTTPRoute,
  HTTPRouteFilter,
  SessionPersistence,
  Snapshot,
} from './schema.js';

export interface CompiledTable {
  version: number;
  snapshot: Snapshot;
  matcher: RouteMatcher;
  /** Backends by "namespace/name". */
  backends: ReadonlyMap<string, Backend>;
  /** RateLimitPolicies by targeted route and rule. */
  policies: PolicyIndex;
  /** Every rule of every route as the request path uses it (src/table/plan.ts), compiled with the table. */
  plans: TablePlans;
  /** Time the compile took, for logs. */
  compileMs: number;
}

/** Request-ready rules: the request path reads these, never the raw route config. */
export interface TablePlans {
  /** The plan of the matched rule (every rule of the table has one). */
  forMatch(match: Pick<RouteMatch, 'route' | 'ruleIndex'>): RulePlan;
  /** Plans of one route, by rule index (undefined for a route not in the table). */
  forRoute(route: HTTPRoute): readonly RulePlan[] | undefined;
}

type Filter<K extends HTTPRouteFilter['type']> = Extract<HTTPRouteFilter, { type: K }>;
export type RedirectSpec = Filter<'RequestRedirect'>['requestRedirect'];
export type RewriteSpec = Filter<'URLRewrite'>['urlRewrite'];

/** One rule of one route, compiled once per table version. */
export interface RulePlan {
  /** "namespace/name/<rule name or ruleN>": the route in logs, debug headers and error bodies. */
  id: string;
  /** "namespace/name" of the route. */
  routeKey: string;
  ruleName: string | undefined;
  routeNamespace: string;
  /** The route lists hostnames, so the client's Host is forwarded (a catch-all route uses the endpoint's name). */
  routeOwnsHost: boolean;
  /** RequestRedirect: answered at the edge, with the rule's ResponseHeaderModifiers. */
  redirect: { spec: RedirectSpec; responseHeaders: readonly HeaderModifier[] } | undefined;
  /** Why the rule cannot forward at all, if it cannot. */
  unusable: 'no_backend_refs' | 'all_weights_zero' | undefined;
  refs: readonly RefPlan[];
  /** Some Backend the rule can reach (fallbacks included) has several endpoints: the client's location may matter. */
  locality: boolean;
  /** sessionPersistence with its absoluteTimeout in seconds. */
  session: { config: SessionPersistence; absoluteTimeoutS: number | undefined } | undefined;
  retry: { attempts: number; codes: readonly number[]; backoffMs: number };
  timeouts: {
    /** timeouts.request in ms; 0 = none. */
    requestMs: number;
    /** Per attempt (timeouts.backendRequest, else request, else the default); 0 = none. */
    backendRequestMs: number;
    /** Neither timeout is configured: only the gateway's default per-attempt timeout applies. */
    defaultApplies: boolean;
  };
  /** RateLimitPolicies that apply to this rule (empty: the rate-limit stage passes it through). */
  rateLimits: CompiledPolicy[];
}

/** One backendRef of a rule with the rule's and its own filters merged (rule first), split by kind. */
export interface RefPlan {
  ref: HTTPBackendRef;
  /** "namespace/name" of the reference (the route's namespace when it names none). */
  key: string;
  weight: number;
  /** Sticky-session id: the Backend's key, or key#index for a Backend listed twice. */
  stickyId: string;
  /** The Backend it names; undefined for an unknown Backend or an unsupported kind (500 invalid_backend). */
  backend: BackendPlan | undefined;
  /** The first URLRewrite (rule before ref). */
  rewrite: RewriteSpec | undefined;
  requestHeaders: readonly HeaderModifier[];
  responseHeaders: readonly HeaderModifier[];
  mirrors: readonly MirrorPlan[];
}

/** RequestMirror: the share of requests copied and where to (undefined: unresolved, mirrors nothing). */
export interface MirrorPlan {
  share: number;
  backend: BackendPlan | undefined;
}

/** A Backend with what the request path derives from it. */
export interface BackendPlan {
  backend: Backend;
  /** "namespace/name". */
  key: string;
  /** failover.fallbackBackend, resolved (it may be the Backend itself); undefined when unset or unknown. */
  fallback: BackendPlan | undefined;
  /** Where attempts draw endpoints from, in order: the Backend, then its fallback when that is another Backend. */
  pools: readonly BackendPlan[];
  /** failover.panicThreshold (default applied). */
  panicThreshold: number;
  /** failover.overprovisioningFactor (default applied). */
  overprovisioningFactor: number;
  /** Endpoint URLs parsed once, by endpoint index. */
  origins: readonly EndpointOrigin[];
  /** circuitBreaker (defaults applied): in-flight limit per endpoint per isolate, and the Retry-After cap (0: ignored). */
  breaker: { maxRequests: number; maxRetryAfterMs: number };
}

export interface EndpointOrigin {
  endpoint: Endpoint;
  /** "http:" or "https:". */
  protocol: string;
  hostname: string;
  /** "" for the scheme's default port. */
  port: string;
  origin: string;
}

/** One key/value the table writers put into KV, in write order (`wrangler kv bulk put` entries have this shape). */
export interface KvEntry {
  key: string;
  value: string;
}
