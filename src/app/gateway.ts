/** The data plane for one request: match, filter, choose backend and endpoint, forward, decorate, log. */
import type { ClientLocation } from '../balancing.js';
import { chooseEndpoint } from '../balancing/endpoint.js';
import { chooseSticky, chooseWeighted } from '../balancing/weighted.js';
import { DEFAULT_PANIC_THRESHOLD, inPanic, panicLoads } from '../health/panic.js';
import { circuitLogLine, endpointKey, type IsolateHealth } from '../health/registry.js';
import { fullJitterBackoff } from '../health/retry.js';
import { priorityLoads } from '../health/spill.js';
import { DEGRADED, degradedResponse, type DegradedCode } from '../proxy/errors.js';
import { redirectLocation, rewritePath } from '../proxy/filters.js';
import { forward, type Outcome, type Target } from '../proxy/forward.js';
import { applyHeaderModifier, nextTraceparent, randomHex, stripHopByHop, upstreamHeaders } from '../proxy/headers.js';
import type { RateLimiterNamespaceLike } from '../ratelimit.js';
import { enforce } from '../ratelimit/gate.js';
import type { RouteMatch } from '../routing.js';
import { requestHostFromHeader } from '../routing/hostname.js';
import { normalizePath, type PathPolicy } from '../routing/normalize.js';
import type { Backend, Endpoint } from '../schema/backend.js';
import { parseDuration } from '../schema/duration.js';
import type { HTTPBackendRef, HTTPRouteFilter } from '../schema/httproute.js';
import { isEdgewayBackendRef } from '../schema/references.js';
import { objectKey, refKey, resourceKey } from '../schema/keys.js';
import type { CompiledTable } from '../table.js';
import { issueSession, readSession } from './session.js';

/** Bodies up to this size are buffered so a failed attempt can be replayed on another endpoint. */
export const MAX_REPLAY_BODY_BYTES = 64 * 1024;
const DEFAULT_BACKEND_REQUEST_MS = 30_000;
const MAX_TARGET_LENGTH = 8192;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const DEFAULT_RETRY_CODES = [500, 502, 503, 504];
const HOST_HEADER = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(:\d{1,5})?$/;

export interface GatewayDeps {
  health: IsolateHealth;
  fetch: (request: Request) => Promise<Response>;
  now: () => number;
  rand: () => number;
  log: (line: Record<string, unknown>) => void;
  debugHeaders: boolean;
  /** Background work that may outlive the response (mirrors, refreshes). */
  waitUntil: (p: Promise<unknown>) => void;
  /** Called with the Backend a request is about to use, so its active health can be pulled in the background. */
  observeBackend?: (backend: Backend) => void;
  /** The RATE_LIMITER namespace; routes with a RateLimitPolicy need it. */
  rateLimiter?: RateLimiterNamespaceLike | undefined;
  /** Path normalisation and escaped-slash policy (default: Envoy Gateway's, see src/routing/normalize.ts). */
  pathPolicy?: PathPolicy | undefined;
}

/** One endpoint of one Backend, as the attempt loop tracks it. */
interface Handle {
  backend: Backend;
  index: number;
}

interface Served {
  route?: string;
  backend?: string;
  cluster?: string;
  endpoint?: string;
  attempts?: number;
  error?: DegradedCode | 'rate_limited';
  /** Served in panic mode (failover.panicThreshold): health was ignored for endpoints that still connect. */
  panic?: boolean;
}

export async function serveRequest(request: Request, table: CompiledTable | undefined, deps: GatewayDeps): Promise<Response> {
  const started = deps.now();
  const requestId = crypto.randomUUID();
  const url = new URL(request.url);
  const served: Served = {};
  let response: Response;
  try {
    response = await route(request, url, table, deps, requestId, served);
  } catch (err) {
    // Last line of defence: a bug must still answer with JSON (naming the route in debug), never a stack trace.
    deps.log({ level: 'error', msg: 'unhandled gateway error', route: served.route, requestId, error: String(err) });
    const body = { error: 'internal_error', ...(deps.debugHeaders ? { route: served.route ?? null } : {}), requestId };
    response = new Response(JSON.stringify(body), {
      status: 500,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
  }
  if (response.status !== 101) {
    // The id is no internal name and finds the request's log line; route, backend and cluster are only for debugging.
    response.headers.set('x-request-id', requestId);
  }
  if (deps.debugHeaders && response.status !== 101) {
    if (served.route) response.headers.set('x-edgeway-route', served.route);
    if (served.backend) response.headers.set('x-edgeway-backend', served.backend);
    if (served.cluster) response.headers.set('x-edgeway-cluster', served.cluster);
  }
  deps.log({
    level: response.status >= 500 ? 'error' : 'info',
    msg: 'request',
    requestId,
    method: request.method,
    host: url.host,
    path: url.pathname,
    status: response.status,
    route: served.route ?? null,
    backend: served.backend ?? null,
    cluster: served.cluster ?? null,
    endpoint: served.endpoint ?? null,
    attempts: served.attempts ?? 0,
    error: served.error ?? null,
    ...(served.panic ? { panic: true } : {}),
    ms: Math.round(deps.now() - started),
  });
  return response;
}

async function route(
  request: Request,
  url: URL,
  table: CompiledTable | undefined,
  deps: GatewayDeps,
  requestId: string,
  served: Served,
): Promise<Response> {
  const fail = (code: DegradedCode, detail?: string, headers?: HeadersInit) => {
    served.error = code;
    return degradedResponse(code, { route: served.route, backend: served.backend, requestId, detail, debug: deps.debugHeaders }, headers);
  };
  if (url.pathname.length + url.search.length > MAX_TARGET_LENGTH) return fail('uri_too_long');
  const hostHeader = (request.headers.get('host') ?? url.host).toLowerCase();
  if (!HOST_HEADER.test(hostHeader)) return fail('bad_request', 'invalid Host header');
  const host = requestHostFromHeader(hostHeader);
  // Match on the normalised path, and forward that same path (src/routing/normalize.ts).
  const normalized = normalizePath(url.pathname, deps.pathPolicy);
  if (normalized.action === 'reject') return fail('bad_request', normalized.reason);
  if (normalized.action === 'redirect') {
    // gRPC clients do not follow redirects: Envoy rejects these instead, and so do we.
    if ((request.headers.get('content-type') ?? '').startsWith('application/grpc'))
      return fail('bad_request', 'encoded slash in a gRPC path');
    return new Response(null, { status: 307, headers: { location: `${normalized.path}${url.search}` } });
  }
  if (normalized.path !== url.pathname) url.pathname = normalized.path;
  if (!table) return fail('table_unavailable');

  const match = table.matcher.match({
    host,
    path: url.pathname,
    method: request.method,
    headers: request.headers,
    query: url.searchParams,
  });
  if (!match) return fail('no_route', `${request.method} ${host}${url.pathname}`);
  served.route = `${match.routeKey}/${match.rule.name ?? `rule${match.ruleIndex}`}`;

  const policies = table.policies.forRule(match.routeKey, match.rule.name);
  if (policies.length === 0) return forwardMatched(request, url, host, match, table, deps, requestId, served, fail);
  const limit = await enforce({
    policies,
    request,
    routeKey: match.routeKey,
    ...(match.rule.name ? { ruleName: match.rule.name } : {}),
    namespace: deps.rateLimiter ?? missingLimiter,
    ctx: { waitUntil: deps.waitUntil },
    now: deps.now(),
    log: (line) => deps.log({ route: served.route, requestId, ...line }),
  });
  if (limit.denied) {
    served.error = 'rate_limited';
    return limit.denied;
  }
  const response = await forwardMatched(request, url, host, match, table, deps, requestId, served, fail);
  if (response.status === 101) return response;
  // Every response of a limited route says where the client stands (draft-ietf-httpapi-ratelimit-headers-10).
  for (const [name, value] of limit.headers) response.headers.set(name, value);
  return response;
}

/** Without a RATE_LIMITER binding every limiter call fails, so each policy's failOpen decides. */
const missingLimiter: RateLimiterNamespaceLike = {
  idFromName: () => {
    throw new Error('RATE_LIMITER binding is missing');
  },
  get: () => {
    throw new Error('RATE_LIMITER binding is missing');
  },
};

async function forwardMatched(
  request: Request,
  url: URL,
  host: string,
  match: RouteMatch,
  table: CompiledTable,
  deps: GatewayDeps,
  requestId: string,
  served: Served,
  fail: (code: DegradedCode, detail?: string, headers?: HeadersInit) => Response,
): Promise<Response> {
  const filters = match.rule.filters ?? [];
  const redirect = filters.find((f) => f.type === 'RequestRedirect');
  if (redirect) {
    const headers = new Headers({ location: redirectLocation(url, redirect.requestRedirect, match.match) });
    applyResponseFilters(headers, filters);
    return new Response(null, { status: redirect.requestRedirect.statusCode, headers });
  }

  const refs = match.rule.backendRefs ?? [];
  if (refs.length === 0) return fail('no_backend_refs');
  if (refs.every((r) => r.weight === 0)) return fail('all_weights_zero');
  const resolved = refs.map((ref) => resolveBackend(table, ref, match.route.metadata.namespace));
  const now = deps.now();
  const client = clientLocation(request);
  const hasUsable = (backend: Backend) =>
    chooseEndpoint(backend.spec.endpoints, { usable: (ep) => endpointUsable(deps.health, backend, ep, now), client, rand: () => 0 }) !==
    null;

  const persistence = match.rule.sessionPersistence;
  const session = persistence ? readSession(persistence, request.headers, () => randomHex(16)) : undefined;
  let chosen: number;
  if (session) {
    // A sticky client moves only when its backend has nothing usable; a missing Backend stays in the draw (500).
    // Ids name the Backend, so reordering backendRefs keeps sessions; only a Backend listed twice needs its position.
    const names = refs.map((r) => refKey(r, match.route.metadata.namespace));
    const ids = refs.map((r, i) => ({ weight: r.weight, id: names.indexOf(names[i]!) === i ? names[i]! : `${names[i]}#${i}` }));
    chosen = chooseSticky(ids, session.key, (i) => !resolved[i] || hasUsable(resolved[i]!));
    if (chosen < 0) chosen = chooseSticky(ids, session.key);
  } else {
    chosen = chooseWeighted(refs, deps.rand);
  }
  const ref = refs[chosen]!;
  const backend = resolved[chosen];
  served.backend = refKey(ref, match.route.metadata.namespace);
  if (!backend) {
    deps.log({
      level: 'error',
      msg: 'invalid backendRef',
      route: served.route,
      backendRef: served.backend,
      kind: ref.kind ?? 'Backend',
      requestId,
    });
    return fail('invalid_backend', served.backend);
  }
  const target = pickServingBackend(table, backend, hasUsable);
  if (target !== backend) served.backend = resourceKey(target);
  deps.observeBackend?.(target);
  const panic = servesInPanic(table, target, deps.health, now);
  if (panic) served.panic = true;

  const result = await proxyTo(request, url, host, match, ref, target, table, deps, requestId, client, served, panic);
  if ('error' in result) {
    const retryAfter = result.error === 'no_ready_endpoint' ? { 'retry-after': '5' } : undefined;
    if (result.error === 'no_ready_endpoint')
      deps.log({ level: 'warn', msg: 'no ready endpoint', route: served.route, backend: served.backend, requestId });
    return fail(result.error, undefined, retryAfter);
  }
  const upstream = result.response;
  if (upstream.status === 101) return upstream; // WebSocket: pass the handshake through untouched.
  const response = new Response(upstream.body, upstream);
  stripHopByHop(response.headers);
  applyResponseFilters(response.headers, filters, ref.filters);
  if (session && persistence) {
    const absolute = persistence.absoluteTimeout ? Math.floor(parseDuration(persistence.absoluteTimeout) / 1000) : undefined;
    issueSession(persistence, session, response.headers, url.protocol === 'https:', absolute);
  }
  return response;
}

/** The Backend itself, or its fallback when nothing of it is usable (issue 3: failover.fallbackBackend). */
function pickServingBackend(table: CompiledTable, backend: Backend, hasUsable: (b: Backend) => boolean): Backend {
  const fallbackName = backend.spec.failover?.fallbackBackend;
  if (!fallbackName || hasUsable(backend)) return backend;
  const fallback = table.backends.get(objectKey(backend.metadata.namespace, fallbackName));
  return fallback && hasUsable(fallback) ? fallback : backend;
}

/**
 * Panic (src/health/panic.ts, Envoy's healthy_panic_threshold by weight): when every tier of the serving Backend,
 * and its fallback, is below `failover.panicThreshold`% usable, health no longer decides: every endpoint that is
 * not known to refuse connections may serve, so one ejected endpoint cannot turn a whole Backend into 503s.
 */
function servesInPanic(table: CompiledTable, backend: Backend, health: IsolateHealth, now: number): boolean {
  const threshold = backend.spec.failover?.panicThreshold ?? DEFAULT_PANIC_THRESHOLD;
  if (!(threshold > 0)) return false;
  const usable = (b: Backend) => (ep: Endpoint) => health.usable(endpointKey(b, ep), ep, b, now);
  const fallbackName = backend.spec.failover?.fallbackBackend;
  const fallback = fallbackName ? table.backends.get(objectKey(backend.metadata.namespace, fallbackName)) : undefined;
  return inPanic(
    { endpoints: backend.spec.endpoints, usable: usable(backend) },
    fallback && { endpoints: fallback.spec.endpoints, usable: usable(fallback) },
    threshold,
  );
}

/** In panic an endpoint serves unless it is known to refuse connections (and its weight is not 0). */
function panicEligible(health: IsolateHealth, backend: Backend, ep: Endpoint, now: number): boolean {
  return endpointUsable(health, backend, ep, now) || !health.refusing(endpointKey(backend, ep), backend, now);
}

function resolveBackend(table: CompiledTable, ref: HTTPBackendRef, routeNamespace: string): Backend | undefined {
  if (!isEdgewayBackendRef(ref)) return undefined;
  return table.backends.get(refKey(ref, routeNamespace));
}

function endpointUsable(health: IsolateHealth, backend: Backend, ep: Endpoint, now: number): boolean {
  const v = health.verdict(endpointKey(backend, ep), ep, backend, now);
  return v.usable || v.trial;
}

async function proxyTo(
  request: Request,
  url: URL,
  host: string,
  match: RouteMatch,
  ref: HTTPBackendRef,
  backend: Backend,
  table: CompiledTable,
  deps: GatewayDeps,
  requestId: string,
  client: ClientLocation,
  served: Served,
  panic = false,
): Promise<{ response: Response } | { error: DegradedCode }> {
  const rule = match.rule;
  const filters = [...(rule.filters ?? []), ...(ref.filters ?? [])];
  const rewrite = filters.find((f) => f.type === 'URLRewrite')?.urlRewrite;
  const path = rewritePath(url.pathname, rewrite?.path, match.match);
  const isWebSocket = (request.headers.get('upgrade') ?? '').toLowerCase() === 'websocket';
  const facts = {
    clientIp: request.headers.get('cf-connecting-ip'),
    proto: url.protocol.replace(':', ''),
    host: request.headers.get('host') ?? url.host,
    requestId,
    traceparent: nextTraceparent(request.headers.get('traceparent'), randomHex),
  };
  const headers = upstreamHeaders(request.headers, facts, isWebSocket);
  for (const f of filters) if (f.type === 'RequestHeaderModifier') applyHeaderModifier(headers, f.requestHeaderModifier);

  const idempotent = IDEMPOTENT.has(request.method) || request.headers.has('idempotency-key');
  let body: ArrayBuffer | ReadableStream | null = request.body;
  let replayable = idempotent && !isWebSocket;
  if (body && replayable) {
    const length = Number(request.headers.get('content-length') ?? NaN);
    if (Number.isFinite(length) && length <= MAX_REPLAY_BODY_BYTES) body = await request.arrayBuffer();
    else replayable = false;
  }

  // Routes that list hostnames forward the client's Host (Gateway API); a catch-all route uses the endpoint's
  // own name, so a forged Host can never steer the connection (resolveOverride) to a host outside the table.
  const routeOwnsHost = (match.route.spec.hostnames?.length ?? 0) > 0;
  const mirrorBody = body instanceof ArrayBuffer || body === null ? body : undefined;
  const buildRequest = (ep: Endpoint, signal: AbortSignal): Request => {
    const origin = new URL(ep.url);
    const upstreamHost = rewrite?.hostname ?? ep.hostHeader ?? (routeOwnsHost ? host : origin.hostname);
    const target = `${origin.protocol}//${upstreamHost}${origin.port ? `:${origin.port}` : ''}${path}${url.search}`;
    const init: RequestInit<RequestInitCfProperties> = {
      method: request.method,
      headers,
      body: body as BodyInit | null,
      redirect: 'manual',
      signal,
    };
    if (upstreamHost !== origin.hostname) init.cf = { resolveOverride: origin.hostname };
    return new Request(target, init);
  };

  const now = deps.now;
  const timeouts = rule.timeouts;
  const requestMs = timeouts?.request ? parseDuration(timeouts.request) : 0;
  const deadline = requestMs > 0 ? AbortSignal.timeout(requestMs) : undefined;
  // "0s" disables a timeout (Gateway API). A rule that disables `request` and sets no `backendRequest` gets no
  // per-attempt default either: it asked for no timeout at all. 0 means none to forward().
  const backendRequestMs =
    timeouts?.backendRequest !== undefined
      ? parseDuration(timeouts.backendRequest)
      : timeouts?.request !== undefined
        ? requestMs
        : DEFAULT_BACKEND_REQUEST_MS;
  const budget = deps.health.retryBudget;
  budget?.recordRequest(now());
  let retriesHeld = 0;

  // Endpoints of the Backend first; once none is left, those of its fallback (failover.fallbackBackend), so a
  // replayable request survives a Backend whose every endpoint refuses connections.
  const fallbackName = backend.spec.failover?.fallbackBackend;
  const fallback = fallbackName ? table.backends.get(objectKey(backend.metadata.namespace, fallbackName)) : undefined;
  const pools = fallback && fallback !== backend ? [backend, fallback] : [backend];
  const next = (tried: readonly Handle[], allowRepeat: boolean): Target<Handle> | null => {
    const at = now();
    for (const repeat of allowRepeat ? [false, true] : [false]) {
      for (const pool of pools) {
        const choice = chooseEndpoint(pool.spec.endpoints, {
          usable: (ep, i) =>
            (repeat || !tried.some((t) => t.backend === pool && t.index === i)) &&
            (panic ? panicEligible(deps.health, pool, ep, at) : endpointUsable(deps.health, pool, ep, at)),
          client,
          rand: deps.rand,
          tierLoads: panic ? panicLoads : (tiers) => priorityLoads(tiers, pool.spec.failover?.overprovisioningFactor ?? 1.4),
        });
        if (!choice) continue;
        const handle = { backend: pool, index: choice.index };
        // A half-open endpoint takes exactly one trial request; if someone else took it, look again without it.
        // In panic the trial is still taken when free (its outcome closes or re-opens the circuit), but not waited for.
        if (!deps.health.admit(endpointKey(pool, choice.endpoint), at) && !panic) return next([...tried, handle], allowRepeat);
        return { handle, request: (signal) => buildRequest(choice.endpoint, signal) };
      }
    }
    return null;
  };

  const retry = rule.retry;
  const result = await forward<Handle>({
    next,
    report: (handle: Handle, outcome: Outcome, at: number) => {
      const ep = handle.backend.spec.endpoints[handle.index]!;
      const change = deps.health.record(endpointKey(handle.backend, ep), handle.backend, outcome, at);
      if (change) console.log(circuitLogLine(change, at, served.route));
    },
    fetch: deps.fetch,
    now,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    backoff: (n) => fullJitterBackoff(n, retry?.backoff ? parseDuration(retry.backoff) : 25, 250, deps.rand),
    replayable,
    retry: { attempts: retry?.attempts ?? 1, codes: retry?.codes ?? DEFAULT_RETRY_CODES, backoffMs: 25 },
    connectRetries: Math.min(3, pools.reduce((n, p) => n + p.spec.endpoints.length, 0) - 1),
    budget: budget && {
      tryRetry: (at) => {
        const ok = budget.tryAcquire(at);
        if (ok) retriesHeld++;
        return ok;
      },
    },
    backendRequestMs,
    deadline,
  });
  for (; retriesHeld > 0; retriesHeld--) budget?.release();
  served.attempts = result.attempts.length;
  const last = result.attempts.at(-1);
  if (last) {
    const ep = last.handle.backend.spec.endpoints[last.handle.index]!;
    served.cluster = ep.cluster;
    served.endpoint = ep.url;
    if (last.handle.backend !== backend) served.backend = resourceKey(last.handle.backend);
  }
  if (result.response) {
    mirror(filters, match, table, deps, mirrorBody, request, url, headers);
    return { response: result.response };
  }
  return { error: result.error ?? 'upstream_unreachable' };
}

/** RequestMirror: a copy goes to the mirror backend in the background; its answer is ignored. */
function mirror(
  filters: HTTPRouteFilter[],
  match: RouteMatch,
  table: CompiledTable,
  deps: GatewayDeps,
  body: ArrayBuffer | null | undefined,
  request: Request,
  url: URL,
  headers: Headers,
) {
  if (body === undefined) return; // a streamed body was consumed by the real request
  for (const f of filters) {
    if (f.type !== 'RequestMirror') continue;
    const m = f.requestMirror;
    const share = m.fraction ? m.fraction.numerator / m.fraction.denominator : (m.percent ?? 100) / 100;
    if (deps.rand() >= share) continue;
    const ref = m.backendRef;
    const ns = ref.namespace ?? match.route.metadata.namespace;
    // An unresolved mirror backendRef (unknown Backend, unsupported kind) mirrors nothing; validate warned.
    const backend = isEdgewayBackendRef(ref) ? table.backends.get(objectKey(ns, ref.name)) : undefined;
    const ep = backend && chooseEndpoint(backend.spec.endpoints, { usable: () => true, client: {}, rand: deps.rand });
    if (!ep) continue;
    const origin = new URL(ep.endpoint.url);
    const copy = new Request(`${origin.origin}${url.pathname}${url.search}`, { method: request.method, headers, body, redirect: 'manual' });
    deps.waitUntil(
      deps.fetch(copy).then(
        (r) => r.body?.cancel(),
        () => undefined,
      ),
    );
  }
}

function applyResponseFilters(headers: Headers, ruleFilters: HTTPRouteFilter[], refFilters: HTTPRouteFilter[] = []): void {
  for (const f of [...ruleFilters, ...refFilters])
    if (f.type === 'ResponseHeaderModifier') applyHeaderModifier(headers, f.responseHeaderModifier);
}

function clientLocation(request: Request): ClientLocation {
  const cf = (request as { cf?: IncomingRequestCfProperties }).cf;
  const lat = cf?.latitude !== undefined ? Number(cf.latitude) : NaN;
  const lon = cf?.longitude !== undefined ? Number(cf.longitude) : NaN;
  return {
    ...(Number.isFinite(lat) && Number.isFinite(lon) ? { latitude: lat, longitude: lon } : {}),
    ...(cf?.continent ? { continent: String(cf.continent) } : {}),
  };
}

export { DEGRADED };
