/**
 * Access log (outermost stage, so it sees the final answer): the request id and debug headers on every response,
 * one log line per request, and the last line of defence that turns a bug into a JSON 500.
 */
import type { RequestContext, Stage } from '../context.js';

const q = JSON.stringify;
const nullable = (v: string | undefined): string => (v === undefined ? 'null' : q(v));

/** The access-log line as an object (for `deps.log`); `accessLine` writes the same fields as a string. */
export function accessFields(ctx: RequestContext, status: number, ms: number): Record<string, unknown> {
  const s = ctx.served;
  return {
    level: status >= 500 ? 'error' : 'info',
    msg: 'request',
    requestId: ctx.requestId,
    method: ctx.request.method,
    host: ctx.url.host,
    path: ctx.url.pathname,
    status,
    route: s.route ?? null,
    backend: s.backend ?? null,
    cluster: s.cluster ?? null,
    endpoint: s.endpoint ?? null,
    attempts: s.attempts ?? 0,
    error: s.error ?? null,
    ...(s.reason !== undefined ? { reason: s.reason } : {}),
    ...(s.panic ? { panic: true } : {}),
    ms,
  };
}

/**
 * The same line as `{"at":..., ...accessFields}` through JSON.stringify, built by concatenation: a fixed shape
 * needs no intermediate object. Every string that can hold client input goes through JSON.stringify.
 */
export function accessLine(at: string, ctx: RequestContext, status: number, ms: number): string {
  const s = ctx.served;
  return (
    `{"at":${q(at)},"level":"${status >= 500 ? 'error' : 'info'}","msg":"request","requestId":${q(ctx.requestId)}` +
    `,"method":${q(ctx.request.method)},"host":${q(ctx.url.host)},"path":${q(ctx.url.pathname)},"status":${status}` +
    `,"route":${nullable(s.route)},"backend":${nullable(s.backend)},"cluster":${nullable(s.cluster)}` +
    `,"endpoint":${nullable(s.endpoint)},"attempts":${s.attempts ?? 0},"error":${nullable(s.error)}` +
    `${s.reason !== undefined ? `,"reason":${q(s.reason)}` : ''}` +
    `${s.panic ? ',"panic":true' : ''},"ms":${ms}}`
  );
}

/** Successful requests (below 400, no gateway error) may be sampled; everything else is always logged. */
function logged(ctx: RequestContext, status: number): boolean {
  const share = ctx.deps.logSampleSuccess ?? 1;
  if (share >= 1 || status >= 400 || ctx.served.error !== undefined) return true;
  return ctx.deps.rand() < share;
}

export const accessLog: Stage = {
  name: 'access-log',
  build: () => async (ctx, next) => {
    const { deps, served, requestId } = ctx;
    let response: Response;
    try {
      response = await next(ctx);
    } catch (err) {
      // A bug must still answer with JSON (naming the route in debug), never a stack trace.
      deps.log({ level: 'error', msg: 'unhandled gateway error', route: served.route, requestId, error: String(err) });
      const body = { error: 'internal_error', ...(deps.debugHeaders ? { route: served.route ?? null } : {}), requestId };
      response = new Response(JSON.stringify(body), {
        status: 500,
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
    }
    const status = response.status;
    if (status !== 101) {
      // The id is no internal name and finds the request's log line; route, backend and cluster are only for debugging.
      response.headers.set('x-request-id', requestId);
      if (deps.debugHeaders) {
        if (served.route) response.headers.set('x-edgeway-route', served.route);
        if (served.backend) response.headers.set('x-edgeway-backend', served.backend);
        if (served.cluster) response.headers.set('x-edgeway-cluster', served.cluster);
      }
    }
    if (logged(ctx, status)) {
      const ms = Math.round(deps.now() - ctx.started);
      if (deps.writeLine) deps.writeLine(accessLine(new Date().toISOString(), ctx, status, ms));
      else deps.log(accessFields(ctx, status, ms));
    }
    return response;
  },
};
