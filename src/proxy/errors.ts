/** Every degraded outcome the gateway can answer with: one list, one status each, one JSON body shape. */

export const DEGRADED = {
  bad_request: { status: 400, message: 'malformed request' },
  uri_too_long: { status: 414, message: 'request target too long' },
  no_route: { status: 404, message: 'no route matches this request' },
  no_backend_refs: { status: 500, message: 'the matched rule has no backendRefs' },
  all_weights_zero: { status: 500, message: 'every backendRef of the matched rule has weight 0' },
  invalid_backend: { status: 500, message: 'the chosen backendRef does not name a known Backend' },
  no_ready_endpoint: { status: 503, message: 'no healthy endpoint for the backend' },
  overloaded: {
    status: 503,
    message: 'every usable endpoint is at its concurrency limit (circuitBreaker.maxRequests) or paused by its Retry-After',
  },
  upstream_unreachable: { status: 502, message: 'could not connect to the upstream' },
  upstream_timeout: { status: 504, message: 'the upstream did not answer within timeouts.backendRequest' },
  request_timeout: { status: 504, message: 'the request did not complete within timeouts.request' },
  table_unavailable: { status: 503, message: 'no routing table is loaded yet' },
} as const satisfies Record<string, { status: number; message: string }>;

export type DegradedCode = keyof typeof DEGRADED;

/** Codes whose detail names our own configuration (a Backend), not something the client sent. */
const INTERNAL_DETAIL: ReadonlySet<DegradedCode> = new Set(['invalid_backend']);

export interface ErrorContext {
  route?: string | undefined;
  backend?: string | undefined;
  requestId: string;
  detail?: string | undefined;
  /**
   * DEBUG_HEADERS on: the body names the route and backend. Off (production default): only the error, a generic
   * message and the requestId, which finds the full story in the request's log line.
   */
  debug?: boolean | undefined;
}

/** JSON error body; never a stack trace. Internal names only with `debug`. */
export function degradedResponse(code: DegradedCode, ctx: ErrorContext, extraHeaders?: HeadersInit): Response {
  const { status, message } = DEGRADED[code];
  const detail = ctx.detail && (ctx.debug || !INTERNAL_DETAIL.has(code)) ? ctx.detail : undefined;
  const body = {
    error: code,
    message: detail ? `${message}: ${detail}` : message,
    ...(ctx.debug ? { route: ctx.route ?? null, backend: ctx.backend ?? null } : {}),
    requestId: ctx.requestId,
  };
  return jsonErrorResponse(status, body, extraHeaders, '1');
}

/**
 * The one shape of every answer the gateway gives instead of the upstream's: JSON, never cached, and a 503 says when
 * to come back (`retryAfter`, unless the caller already set one).
 */
export function jsonErrorResponse(status: number, body: object, extraHeaders: HeadersInit | undefined, retryAfter: string): Response {
  const headers = new Headers(extraHeaders);
  headers.set('content-type', 'application/json; charset=utf-8');
  headers.set('cache-control', 'no-store');
  if (status === 503 && !headers.has('retry-after')) headers.set('retry-after', retryAfter);
  return new Response(JSON.stringify(body), { status, headers });
}
