/**
 * Backend choice: which backendRef serves (weighted split, or sticky by session key), the fallback Backend when
 * nothing of the chosen one is usable, and whether it serves in panic mode.
 */
import type { ClientLocation } from '../../balancing.js';
import { chooseEndpoint } from '../../balancing/endpoint.js';
import { chooseSticky, chooseWeighted } from '../../balancing/weighted.js';
import { inPanic } from '../../health/panic.js';
import { endpointKey, type IsolateHealth } from '../../health/registry.js';
import { randomHex } from '../../proxy/headers.js';
import type { Backend, Endpoint } from '../../schema.js';
import type { BackendPlan } from '../../table.js';
import { clientLocation, fail, type Stage } from '../context.js';
import { readSession } from '../session.js';

export function endpointUsable(health: IsolateHealth, backend: Backend, ep: Endpoint, now: number): boolean {
  const v = health.verdict(endpointKey(backend, ep), ep, backend, now);
  return v.usable || v.trial;
}

/** In panic an endpoint serves unless it is known to refuse connections (and its weight is not 0). */
export function panicEligible(health: IsolateHealth, backend: Backend, ep: Endpoint, now: number): boolean {
  return endpointUsable(health, backend, ep, now) || !health.refusing(endpointKey(backend, ep), backend, now);
}

/** The Backend itself, or its fallback when nothing of it is usable (issue 3: failover.fallbackBackend). */
function servingBackend(plan: BackendPlan, hasUsable: (b: BackendPlan) => boolean): BackendPlan {
  if (!plan.fallback || hasUsable(plan)) return plan;
  return hasUsable(plan.fallback) ? plan.fallback : plan;
}

/**
 * Panic (src/health/panic.ts, Envoy's healthy_panic_threshold by weight): when every tier of the serving Backend,
 * and its fallback, is below `failover.panicThreshold`% usable, health no longer decides: every endpoint that is
 * not known to refuse connections may serve, so one ejected endpoint cannot turn a whole Backend into 503s.
 */
function servesInPanic(plan: BackendPlan, health: IsolateHealth, now: number): boolean {
  if (!(plan.panicThreshold > 0)) return false;
  const usable = (b: Backend) => (ep: Endpoint) => health.usable(endpointKey(b, ep), ep, b, now);
  const fallback = plan.fallback?.backend;
  return inPanic(
    { endpoints: plan.backend.spec.endpoints, usable: usable(plan.backend) },
    fallback && { endpoints: fallback.spec.endpoints, usable: usable(fallback) },
    plan.panicThreshold,
  );
}

export const chooseBackend: Stage = {
  name: 'backend',
  build: () => (ctx, next) => {
    const { deps, served, request } = ctx;
    const plan = ctx.plan!;
    if (plan.unusable) return Promise.resolve(fail(ctx, plan.unusable));
    const now = deps.now();
    const client: ClientLocation = clientLocation(request, plan);
    const hasUsable = (b: BackendPlan) =>
      chooseEndpoint(b.backend.spec.endpoints, {
        usable: (ep) => endpointUsable(deps.health, b.backend, ep, now),
        client,
        rand: () => 0,
      }) !== null;

    const session = plan.session ? readSession(plan.session.config, request.headers, () => randomHex(16)) : undefined;
    let chosen: number;
    if (session) {
      // A sticky client moves only when its backend has nothing usable; a missing Backend stays in the draw (500).
      const refs = plan.refs;
      chosen = chooseSticky(
        refs.map((r) => ({ weight: r.weight, id: r.stickyId })),
        session.key,
        (i) => !refs[i]!.backend || hasUsable(refs[i]!.backend!),
      );
      if (chosen < 0)
        chosen = chooseSticky(
          refs.map((r) => ({ weight: r.weight, id: r.stickyId })),
          session.key,
        );
    } else {
      chosen = chooseWeighted(plan.refs, deps.rand);
    }
    const ref = plan.refs[chosen]!;
    served.backend = ref.key;
    if (!ref.backend) {
      deps.log({
        level: 'error',
        msg: 'invalid backendRef',
        route: served.route,
        backendRef: ref.key,
        kind: ref.ref.kind ?? 'Backend',
        requestId: ctx.requestId,
      });
      return Promise.resolve(fail(ctx, 'invalid_backend', ref.key));
    }
    const target = servingBackend(ref.backend, hasUsable);
    if (target !== ref.backend) served.backend = target.key;
    deps.observeBackend?.(target.backend);
    const panic = servesInPanic(target, deps.health, now);
    if (panic) served.panic = true;
    ctx.choice = { ref, backend: target, panic, session, client };
    return next(ctx);
  },
};
