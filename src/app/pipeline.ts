/**
 * The request's stages, in one ordered list (as Envoy Gateway orders its HTTP filters in one place). A request runs
 * them top to bottom; what they return travels back bottom to top, so a stage that decorates the answer (rate-limit
 * headers, access log) sits above the stages whose answer it decorates. A new policy is one file in stages/ plus its
 * schema, and one line here.
 */
import type { CompiledTable } from '../table.js';
import type { Handler, Next, RequestContext, Stage } from './context.js';
import { accessLog } from './stages/access-log.js';
import { chooseBackend } from './stages/backend.js';
import { forward } from './stages/forward.js';
import { match } from './stages/match.js';
import { metrics } from './stages/metrics.js';
import { normalize } from './stages/normalize.js';
import { rateLimit } from './stages/ratelimit.js';
import { redirect } from './stages/redirect.js';
import { security } from './stages/security.js';
import { decorateResponse } from './stages/response.js';

export const STAGES: readonly Stage[] = [
  accessLog, // outermost: request id, debug headers and the log line on whatever comes back; JSON 500 on a bug
  normalize, // target length, Host, path normalisation (Envoy normalises before any filter)
  match, // route and rule; the rule's plan
  metrics, // on the way back: counts the final status per (rule, backendRef, cluster); flushes in the background
  security, // SecurityPolicy in Envoy's order: CORS preflight, IP allow/deny, authentication, authorization; CORS headers back
  rateLimit, // RateLimitPolicy; RateLimit headers on the way back
  redirect, // RequestRedirect answers at the edge
  chooseBackend, // weighted split or sticky session, fallback Backend, panic mode
  decorateResponse, // on the way back: hop-by-hop fields out, ResponseHeaderModifiers, session cookie
  forward, // upstream request, attempt loop with retries and failover, mirrors
];

const noAnswer: Next = () => Promise.reject(new Error('the last stage called next: no stage answered the request'));

/** Chains handlers so each one's `next` is the rest of the list (built once per table version, no per-request closures). */
export function compose(handlers: readonly Handler[]): Next {
  let run = noAnswer;
  for (let i = handlers.length - 1; i >= 0; i--) {
    const handler = handlers[i]!;
    const rest = run;
    run = (ctx: RequestContext) => handler(ctx, rest);
  }
  return run;
}

/** The pipeline for one table version: every stage's build runs once; stages with nothing to do drop out. */
export function buildPipeline(table: CompiledTable | undefined, stages: readonly Stage[] = STAGES): Next {
  return compose(stages.map((s) => s.build(table)).filter((h): h is Handler => h !== null));
}

const pipelines = new WeakMap<CompiledTable, Next>();
let tableless: Next | undefined;

/** The pipeline for this table version, built on its first request. */
export function pipelineFor(table: CompiledTable | undefined): Next {
  if (!table) return (tableless ??= buildPipeline(undefined));
  let run = pipelines.get(table);
  if (!run) pipelines.set(table, (run = buildPipeline(table)));
  return run;
}
