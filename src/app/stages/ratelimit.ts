/** Rate limiting (RateLimitPolicy): the rule's policies through the limiter gate, RateLimit headers on every answer. */
import type { RateLimiterNamespaceLike } from '../../ratelimit.js';
import { enforce, type EnforceResult } from '../../ratelimit/gate.js';
import type { RulePlan } from '../../table.js';
import type { Next, RequestContext, Stage } from '../context.js';

/** Without a RATE_LIMITER binding every limiter call fails, so each policy's failOpen decides. */
const missingLimiter: RateLimiterNamespaceLike = {
  idFromName: () => {
    throw new Error('RATE_LIMITER binding is missing');
  },
  get: () => {
    throw new Error('RATE_LIMITER binding is missing');
  },
};

/** The rule's policies through the gate; RateLimit headers on whatever comes back. */
function limited(ctx: RequestContext, next: Next, plan: RulePlan): Promise<Response> {
  const { deps, served, requestId } = ctx;
  const limit = enforce({
    policies: plan.rateLimits,
    request: ctx.request,
    routeKey: plan.routeKey,
    ...(plan.ruleName ? { ruleName: plan.ruleName } : {}),
    principal: ctx.security?.principal,
    namespace: deps.rateLimiter ?? missingLimiter,
    ctx: { waitUntil: deps.waitUntil },
    now: deps.now(),
    log: (line) => deps.log({ route: served.route, requestId, ...line }),
    requestId,
    debug: deps.debugHeaders,
  });
  // A permit from this isolate's lease is known at once: no promise until the upstream's.
  return limit instanceof Promise ? limit.then((l) => admitted(ctx, next, l)) : admitted(ctx, next, limit);
}

async function admitted(ctx: RequestContext, next: Next, limit: EnforceResult): Promise<Response> {
  if (limit.denied) {
    ctx.served.error = 'rate_limited';
    return limit.denied;
  }
  const response = await next(ctx);
  if (response.status === 101) return response;
  // Every response of a limited route says where the client stands (draft-ietf-httpapi-ratelimit-headers-10).
  for (const [name, value] of limit.headers) response.headers.set(name, value);
  return response;
}

export const rateLimit: Stage = {
  name: 'rate-limit',
  // A table without RateLimitPolicies has no stage here at all; a rule without any hands on without a promise of its own.
  build: (table) =>
    table && table.policies.size > 0
      ? (ctx, next) => {
          const plan = ctx.plan!;
          return plan.rateLimits.length === 0 ? next(ctx) : limited(ctx, next, plan);
        }
      : null,
};
