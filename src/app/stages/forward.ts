/**
 * Forward: the upstream request (forwarding headers, trace context, request filters), a buffered body when it can be
 * replayed, the attempt loop over the serving Backend and its fallback (src/proxy/forward.ts), and request mirrors.
 */
import { chooseEndpoint } from '../../balancing/endpoint.js';
import { panicLoads } from '../../health/panic.js';
import { circuitLogLine, endpointKey } from '../../health/registry.js';
import { OVERLOAD_STATUSES, overloadLogLine, parseRetryAfter } from '../../health/overload.js';
import { fullJitterBackoff } from '../../health/retry.js';
import { priorityLoads } from '../../health/spill.js';
import { rewritePath } from '../../proxy/filters.js';
import { forward as attemptLoop, type Outcome, type Target } from '../../proxy/forward.js';
import { applyHeaderModifier, nextTraceparent, randomHex, upstreamHeaders } from '../../proxy/headers.js';
import { applyToUpstream } from '../../security/policy.js';
import type { BackendPlan, EndpointOrigin, MirrorPlan } from '../../table.js';
import { fail, type RequestContext, type Stage } from '../context.js';
import { endpointUsable, panicEligible } from './backend.js';

/** Bodies up to this size are buffered so a failed attempt can be replayed on another endpoint. */
export const MAX_REPLAY_BODY_BYTES = 64 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** One endpoint of one Backend, as the attempt loop tracks it. */
interface Handle {
  pool: BackendPlan;
  index: number;
  key: string;
  /** Holds one of the endpoint's circuitBreaker.maxRequests slots until released (exactly once). */
  slot: boolean;
  /** The attempt's answer was a 503/429 with Retry-After: the pause stands in for a passive failure. */
  paused?: boolean;
  /** The attempt took the endpoint's half-open trial. */
  trial?: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function forwardRequest(ctx: RequestContext): Promise<Response> {
  const { request, url, deps, served, requestId } = ctx;
  const plan = ctx.plan!;
  const { ref, backend, panic, client } = ctx.choice!;
  const incoming = request.headers;
  const rewrite = ref.rewrite;
  const path = rewritePath(url.pathname, rewrite?.path, ctx.match!.match);
  const isWebSocket = (incoming.get('upgrade') ?? '').toLowerCase() === 'websocket';
  const headers = upstreamHeaders(
    incoming,
    {
      clientIp: incoming.get('cf-connecting-ip'),
      proto: url.protocol.slice(0, -1),
      host: incoming.get('host') ?? url.host,
      requestId,
      traceparent: nextTraceparent(incoming.get('traceparent'), randomHex),
    },
    isWebSocket,
  );
  // Credentials out, identity in (SecurityPolicy), before the rule's own header filters.
  if (ctx.security) applyToUpstream(headers, url, ctx.security);
  for (const m of ref.requestHeaders) applyHeaderModifier(headers, m);

  const method = request.method;
  let body: ArrayBuffer | ReadableStream | null = request.body;
  let replayable = !isWebSocket && (IDEMPOTENT.has(method) || incoming.has('idempotency-key'));
  if (body && replayable) {
    const length = Number(incoming.get('content-length') ?? NaN);
    if (Number.isFinite(length) && length <= MAX_REPLAY_BODY_BYTES) body = await request.arrayBuffer();
    else replayable = false;
  }

  // Routes that list hostnames forward the client's Host (Gateway API); a catch-all route uses the endpoint's
  // own name, so a forged Host can never steer the connection (resolveOverride) to a host outside the table.
  const search = url.search;
  const buildRequest = (o: EndpointOrigin, signal: AbortSignal): Request => {
    const upstreamHost = rewrite?.hostname ?? o.endpoint.hostHeader ?? (plan.routeOwnsHost ? ctx.host : o.hostname);
    const init: RequestInit<RequestInitCfProperties> = { method, headers, body: body as BodyInit | null, redirect: 'manual', signal };
    if (upstreamHost !== o.hostname) init.cf = { resolveOverride: o.hostname };
    return new Request(`${o.protocol}//${upstreamHost}${o.port ? `:${o.port}` : ''}${path}${search}`, init);
  };

  const { now, health } = deps;
  const { requestMs, backendRequestMs } = plan.timeouts;
  const deadline = requestMs > 0 ? AbortSignal.timeout(requestMs) : undefined;
  const budget = health.retryBudget;
  budget?.recordRequest(now());
  let retriesHeld = 0;

  // Endpoints of the Backend first; once none is left, those of its fallback (failover.fallbackBackend), so a
  // replayable request survives a Backend whose every endpoint refuses connections.
  const pools = backend.pools;
  // Load shedding (src/health/overload.ts): an endpoint at circuitBreaker.maxRequests in flight, or paused by its
  // Retry-After, is skipped like an unusable one; `shedMs` remembers the shortest wait for the 503's Retry-After.
  const load = health.load;
  const handles: Handle[] = [];
  const release = (h: Handle) => {
    if (h.slot) load.release(h.key);
    h.slot = false;
  };
  let shedMs: number | undefined;
  const next = (tried: readonly Handle[], allowRepeat: boolean): Target<Handle> | null => {
    const at = now();
    for (const repeat of allowRepeat ? [false, true] : [false]) {
      for (const pool of pools) {
        const b = pool.backend;
        const choice = chooseEndpoint(b.spec.endpoints, {
          usable: (ep, i) => {
            if (!(repeat || !tried.some((t) => t.pool === pool && t.index === i))) return false;
            if (!(panic ? panicEligible(health, b, ep, at) : endpointUsable(health, b, ep, at))) return false;
            const wait = load.wait(endpointKey(b, ep), pool.breaker.maxRequests, at);
            if (wait > 0) shedMs = Math.min(shedMs ?? wait, wait);
            return wait === 0;
          },
          client,
          rand: deps.rand,
          tierLoads: panic ? panicLoads : (tiers) => priorityLoads(tiers, pool.overprovisioningFactor),
        });
        if (!choice) continue;
        const key = endpointKey(b, choice.endpoint);
        const handle: Handle = { pool, index: choice.index, key, slot: false };
        // A half-open endpoint takes exactly one trial request; if someone else took it, look again without it.
        // In panic the trial is still taken when free (its outcome closes or re-opens the circuit), but not waited for.
        const halfOpen = health.outlier.state(key, at) === 'half-open';
        const admitted = health.admit(key, at);
        if (!admitted && !panic) return next([...tried, handle], allowRepeat);
        handle.trial = halfOpen && admitted;
        // Taken when chosen (a retry's backoff keeps it); released when the attempt's fetch settles, or after the loop.
        load.acquire(key);
        handle.slot = true;
        handles.push(handle);
        return { handle, request: (signal) => buildRequest(pool.origins[choice.index]!, signal) };
      }
    }
    return null;
  };

  // A slot is counted until the response headers arrive (or the fetch fails, times out or is aborted): a streamed
  // body no longer waits on the upstream's capacity to start answering, and every path releases exactly once.
  const fetchCounted = async (r: Request, handle: Handle): Promise<Response> => {
    try {
      const response = await deps.fetch(r);
      if (OVERLOAD_STATUSES.has(response.status)) {
        const at = now();
        const ms = parseRetryAfter(response.headers.get('retry-after'), at, handle.pool.breaker.maxRetryAfterMs);
        if (ms !== undefined) {
          handle.paused = true;
          if (load.hold(handle.key, at + ms, at)) console.log(overloadLogLine(handle.key, response.status, at + ms, at, served.route));
        }
      }
      return response;
    } finally {
      release(handle);
    }
  };

  const retry = plan.retry;
  const result = await attemptLoop<Handle>({
    next,
    report: (handle: Handle, outcome: Outcome, at: number) => {
      // The upstream said how long to stay away: that pause is the consequence, not a failure toward ejection too.
      // A half-open trial it held is handed back, so the endpoint's trial comes right after the pause.
      if (handle.paused) {
        if (handle.trial) health.outlier.releaseTrial(handle.key);
        return;
      }
      const b = handle.pool.backend;
      const change = health.record(handle.key, b, outcome, at);
      if (change) console.log(circuitLogLine(change, at, served.route));
    },
    fetch: fetchCounted,
    now,
    sleep,
    backoff: (n) => fullJitterBackoff(n, retry.backoffMs, 250, deps.rand),
    replayable,
    retry,
    connectRetries: Math.min(3, pools.reduce((n, p) => n + p.origins.length, 0) - 1),
    budget: budget && {
      tryRetry: (at) => {
        const ok = budget.tryAcquire(at);
        if (ok) retriesHeld++;
        return ok;
      },
    },
    backendRequestMs,
    deadline,
  }).finally(() => {
    // A look-ahead target the loop never sent (budget refused, deadline) still holds its slot.
    for (const h of handles) release(h);
  });
  for (; retriesHeld > 0; retriesHeld--) budget?.release();
  served.attempts = result.attempts.length;
  const last = result.attempts.at(-1);
  if (last) {
    const ep = last.handle.pool.origins[last.handle.index]!.endpoint;
    served.cluster = ep.cluster;
    served.endpoint = ep.url;
    if (last.handle.pool !== backend) served.backend = last.handle.pool.key;
  }
  if (result.response) {
    // A streamed body was consumed by the real request: only a buffered (or absent) one can be mirrored.
    if (ref.mirrors.length && (body === null || body instanceof ArrayBuffer)) mirror(ctx, ref.mirrors, body, headers);
    ctx.upstream = result.response;
    return result.response;
  }
  const error = result.error ?? 'upstream_unreachable';
  if (error !== 'no_ready_endpoint') return fail(ctx, error);
  if (shedMs !== undefined) {
    const retryAfter = String(Math.max(1, Math.ceil(shedMs / 1000)));
    deps.log({ level: 'warn', msg: 'overloaded', route: served.route, backend: served.backend, retryAfter, requestId });
    return fail(ctx, 'overloaded', undefined, { 'retry-after': retryAfter });
  }
  deps.log({ level: 'warn', msg: 'no ready endpoint', route: served.route, backend: served.backend, requestId });
  return fail(ctx, error, undefined, { 'retry-after': '5' });
}

/** RequestMirror: a copy goes to the mirror backend in the background; its answer is ignored. */
function mirror(ctx: RequestContext, mirrors: readonly MirrorPlan[], body: ArrayBuffer | null, headers: Headers): void {
  const { deps, request, url } = ctx;
  for (const m of mirrors) {
    if (deps.rand() >= m.share) continue;
    const pool = m.backend;
    const ep = pool && chooseEndpoint(pool.backend.spec.endpoints, { usable: () => true, client: {}, rand: deps.rand });
    if (!ep) continue;
    const copy = new Request(`${pool.origins[ep.index]!.origin}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body,
      redirect: 'manual',
    });
    deps.waitUntil(
      deps.fetch(copy).then(
        (r) => r.body?.cancel(),
        () => undefined,
      ),
    );
  }
}

export const forward: Stage = {
  name: 'forward',
  build: () => forwardRequest,
};
