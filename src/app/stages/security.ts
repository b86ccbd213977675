/**
 * Security (SecurityPolicy, Envoy Gateway's order): CORS preflight → IP allow/deny → authentication (JWT, API key) →
 * authorization. Policies are compiled once per table version and attached to each rule's plan here; the JWKS cache
 * lives once per isolate, across table versions. A refusal answers here (the access log line carries the reason); a
 * decision stays on the context for the rate limit (principal), the forward stage (applyToUpstream) and the response
 * (CORS headers, Vary: Origin).
 */
import type { RulePlan } from '../../table.js';
import { applyCorsDecoration } from '../../security/cors.js';
import { createJwksRegistry, type JwksRegistry } from '../../security/jwks.js';
import { compileSecurityPolicies, decorateResponse, type CompiledSecurityPolicy } from '../../security/policy.js';
import type { Stage } from '../context.js';

export interface SecurityStageOptions {
  /** The isolate's JWKS registry; called once per table version, so it must return the same registry every time. */
  jwks: () => JwksRegistry;
  /** Compile failures and JWKS events (rotation, failed fetches): not per request. */
  log: (line: Record<string, unknown>) => void;
}

const consoleLog = (line: Record<string, unknown>) => console.log(JSON.stringify({ at: new Date().toISOString(), ...line }));

let isolateJwks: JwksRegistry | undefined;
/** One JWKS cache per isolate (module state outlives requests and table versions, as the table cache does). */
export const isolateJwksRegistry = (): JwksRegistry =>
  (isolateJwks ??= createJwksRegistry({ fetch: (url, init) => fetch(url, init), log: consoleLog }));

/** The stage with its dependencies (tests pass a registry over a counting fetch). */
export function securityStage(opts: SecurityStageOptions): Stage {
  return {
    name: 'security',
    build: (table) => {
      if (!table || table.snapshot.securityPolicies.length === 0) return null;
      const index = compileSecurityPolicies(table.snapshot.securityPolicies, { jwks: opts.jwks(), log: opts.log });
      // Each rule's policy resolved now (a rule's own policy before its route's), so a request does one Map lookup.
      const byPlan = new Map<RulePlan, CompiledSecurityPolicy>();
      for (const route of table.snapshot.routes)
        for (const plan of table.plans.forRoute(route) ?? []) {
          const policy = index.forRule(plan.routeKey, plan.ruleName);
          if (policy) byPlan.set(plan, policy);
        }
      if (byPlan.size === 0) return null;
      return async (ctx, next) => {
        const policy = byPlan.get(ctx.plan!);
        if (!policy) return next(ctx);
        const { request, deps, served } = ctx;
        const outcome = await policy(
          { method: request.method, url: ctx.url, headers: request.headers, clientIp: request.headers.get('cf-connecting-ip') },
          { now: deps.now(), requestId: ctx.requestId, waitUntil: deps.waitUntil },
        );
        if (outcome.action === 'respond') {
          // One log line per request, the access log's: the code and the reason, never the credential.
          if (outcome.code !== 'cors_preflight') {
            served.error = outcome.code;
            served.reason = `${String(outcome.log.policy)}: ${outcome.reason}`;
          }
          return outcome.response;
        }
        const decision = outcome.decision;
        ctx.security = decision;
        const response = await next(ctx);
        // Every answer below (upstream, rate limit, degraded) is ours and mutable by now; a 101 is passed as it is.
        if (!decision.cors || response.status === 101) return response;
        try {
          applyCorsDecoration(response.headers, decision.cors);
          return response;
        } catch {
          return decorateResponse(response, decision); // immutable headers: one copy
        }
      };
    },
  };
}

export const security: Stage = securityStage({ jwks: isolateJwksRegistry, log: consoleLog });
