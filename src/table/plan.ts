/**
 * Compiles every rule of a snapshot into a request-ready plan, once per table version (Envoy Gateway's
 * translate-then-serve split: the request path reads plans, never raw route config).
 */
import { DEFAULT_MAX_REQUESTS, DEFAULT_MAX_RETRY_AFTER_MS } from '../health/overload.js';
import { DEFAULT_PANIC_THRESHOLD } from '../health/panic.js';
import type { PolicyIndex } from '../ratelimit.js';
import type { Backend } from '../schema/backend.js';
import { parseDuration } from '../schema/duration.js';
import type { HeaderModifier, HTTPRoute, HTTPRouteFilter, HTTPRouteRule } from '../schema/httproute.js';
import { isEdgewayBackendRef } from '../schema/references.js';
import { objectKey, refKey, resourceKey } from '../schema/keys.js';
import type { BackendPlan, EndpointOrigin, MirrorPlan, RefPlan, RulePlan, TablePlans } from '../table.js';

/** Per-attempt timeout when a rule configures neither timeouts.request nor timeouts.backendRequest. */
export const DEFAULT_BACKEND_REQUEST_MS = 30_000;
/** Statuses retried when retry.codes is not set. */
export const DEFAULT_RETRY_CODES: readonly number[] = [500, 502, 503, 504];
/** Backoff base when retry.backoff is not set. */
export const DEFAULT_BACKOFF_MS = 25;
/** failover.overprovisioningFactor when not set (Envoy's 1.4). */
export const DEFAULT_OVERPROVISIONING = 1.4;

/** Backend plans by "namespace/name", fallbacks linked. */
export function planBackends(backends: readonly Backend[]): Map<string, BackendPlan> {
  const plans = new Map<string, BackendPlan>();
  for (const backend of backends) {
    const origins = backend.spec.endpoints.map((endpoint): EndpointOrigin => {
      const u = new URL(endpoint.url);
      return { endpoint, protocol: u.protocol, hostname: u.hostname, port: u.port, origin: u.origin };
    });
    const plan: BackendPlan = {
      backend,
      key: resourceKey(backend),
      fallback: undefined,
      pools: [],
      panicThreshold: backend.spec.failover?.panicThreshold ?? DEFAULT_PANIC_THRESHOLD,
      overprovisioningFactor: backend.spec.failover?.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING,
      origins,
      breaker: {
        maxRequests: backend.spec.circuitBreaker?.maxRequests ?? DEFAULT_MAX_REQUESTS,
        maxRetryAfterMs: backend.spec.circuitBreaker
          ? parseDuration(backend.spec.circuitBreaker.maxRetryAfter)
          : DEFAULT_MAX_RETRY_AFTER_MS,
      },
    };
    plans.set(plan.key, plan);
  }
  for (const plan of plans.values()) {
    const name = plan.backend.spec.failover?.fallbackBackend;
    plan.fallback = name ? plans.get(objectKey(plan.backend.metadata.namespace, name)) : undefined;
    plan.pools = plan.fallback && plan.fallback !== plan ? [plan, plan.fallback] : [plan];
  }
  return plans;
}

const of = <K extends HTTPRouteFilter['type']>(filters: readonly HTTPRouteFilter[], type: K) =>
  filters.filter((f): f is Extract<HTTPRouteFilter, { type: K }> => f.type === type);

function mirrorsOf(filters: readonly HTTPRouteFilter[], namespace: string, backends: ReadonlyMap<string, BackendPlan>): MirrorPlan[] {
  return of(filters, 'RequestMirror').map(({ requestMirror: m }) => ({
    share: m.fraction ? m.fraction.numerator / m.fraction.denominator : (m.percent ?? 100) / 100,
    // An unresolved mirror backendRef (unknown Backend, unsupported kind) mirrors nothing; validate warned.
    backend: isEdgewayBackendRef(m.backendRef) ? backends.get(refKey(m.backendRef, namespace)) : undefined,
  }));
}

export function planRule(
  route: HTTPRoute,
  rule: HTTPRouteRule,
  ruleIndex: number,
  backends: ReadonlyMap<string, BackendPlan>,
  policies: PolicyIndex,
): RulePlan {
  const namespace = route.metadata.namespace;
  const routeKey = resourceKey(route);
  const ruleFilters = rule.filters ?? [];
  const ruleResponse: HeaderModifier[] = of(ruleFilters, 'ResponseHeaderModifier').map((f) => f.responseHeaderModifier);
  const redirect = of(ruleFilters, 'RequestRedirect')[0];
  const refs = rule.backendRefs ?? [];
  const names = refs.map((r) => refKey(r, namespace));
  const refPlans = refs.map((ref, i): RefPlan => {
    const filters = [...ruleFilters, ...(ref.filters ?? [])];
    return {
      ref,
      key: names[i]!,
      weight: ref.weight,
      // Ids name the Backend, so reordering backendRefs keeps sessions; only a Backend listed twice needs its position.
      stickyId: names.indexOf(names[i]!) === i ? names[i]! : `${names[i]}#${i}`,
      backend: isEdgewayBackendRef(ref) ? backends.get(names[i]!) : undefined,
      rewrite: of(filters, 'URLRewrite')[0]?.urlRewrite,
      requestHeaders: of(filters, 'RequestHeaderModifier').map((f) => f.requestHeaderModifier),
      responseHeaders: of(filters, 'ResponseHeaderModifier').map((f) => f.responseHeaderModifier),
      mirrors: mirrorsOf(filters, namespace, backends),
    };
  });
  const persistence = rule.sessionPersistence;
  const timeouts = rule.timeouts;
  const requestMs = timeouts?.request ? parseDuration(timeouts.request) : 0;
  // "0s" disables a timeout (Gateway API). A rule that disables `request` and sets no `backendRequest` gets no
  // per-attempt default either: it asked for no timeout at all.
  const backendRequestMs =
    timeouts?.backendRequest !== undefined
      ? parseDuration(timeouts.backendRequest)
      : timeouts?.request !== undefined
        ? requestMs
        : DEFAULT_BACKEND_REQUEST_MS;
  return {
    id: `${routeKey}/${rule.name ?? `rule${ruleIndex}`}`,
    routeKey,
    ruleName: rule.name,
    routeNamespace: namespace,
    routeOwnsHost: (route.spec.hostnames?.length ?? 0) > 0,
    redirect: redirect && { spec: redirect.requestRedirect, responseHeaders: ruleResponse },
    unusable: refs.length === 0 ? 'no_backend_refs' : refs.every((r) => r.weight === 0) ? 'all_weights_zero' : undefined,
    refs: refPlans,
    locality: refPlans.some((r) => r.backend?.pools.some((p) => p.origins.length > 1)),
    session: persistence && {
      config: persistence,
      absoluteTimeoutS: persistence.absoluteTimeout ? Math.floor(parseDuration(persistence.absoluteTimeout) / 1000) : undefined,
    },
    retry: {
      attempts: rule.retry?.attempts ?? 1,
      codes: rule.retry?.codes ?? DEFAULT_RETRY_CODES,
      backoffMs: rule.retry?.backoff ? parseDuration(rule.retry.backoff) : DEFAULT_BACKOFF_MS,
    },
    timeouts: {
      requestMs,
      backendRequestMs,
      defaultApplies: timeouts?.request === undefined && timeouts?.backendRequest === undefined,
    },
    rateLimits: policies.forRule(routeKey, rule.name),
  };
}

/** Plans for every rule of every route, looked up by the matcher's (route, ruleIndex). */
export function planTable(routes: readonly HTTPRoute[], backends: ReadonlyMap<string, BackendPlan>, policies: PolicyIndex): TablePlans {
  const byRoute = new Map<HTTPRoute, RulePlan[]>();
  for (const route of routes)
    byRoute.set(
      route,
      route.spec.rules.map((rule, i) => planRule(route, rule, i, backends, policies)),
    );
  return {
    forMatch(match) {
      const plan = byRoute.get(match.route)?.[match.ruleIndex];
      if (!plan) throw new Error(`no plan for rule ${match.ruleIndex} of a route outside this table`);
      return plan;
    },
    forRoute: (route) => byRoute.get(route),
  };
}
