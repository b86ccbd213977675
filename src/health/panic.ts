/** Envoy's panic threshold, by weight: when too little of a Backend is healthy, serve from all that still connects. */
import type { TierHealth } from '../health.js';

/** Envoy's `healthy_panic_threshold` default: 50%. */
export const DEFAULT_PANIC_THRESHOLD = 50;

/** One Backend's endpoints as the panic decision sees them: weight, priority tier, and whether health allows it. */
export interface PanicPool<E extends { weight: number; priority: number } = { weight: number; priority: number }> {
  endpoints: readonly E[];
  /** Takes normal traffic now (every health signal allows it). */
  usable: (endpoint: E, index: number) => boolean;
}

/**
 * Whether some priority tier still has at least `thresholdPct`% of its weight usable (Envoy's isHostSetInPanic,
 * counted in weight rather than hosts because Edgeway balances by weight). Tiers without weight do not count.
 */
export function someTierHealthy<E extends { weight: number; priority: number }>(pool: PanicPool<E>, thresholdPct: number): boolean {
  const { endpoints, usable } = pool;
  // Most Backends have one endpoint, and this runs per request: no bookkeeping for them.
  if (endpoints.length === 1) return endpoints[0]!.weight > 0 && (thresholdPct <= 0 || usable(endpoints[0]!, 0));
  const tiers = new Map<number, TierHealth>();
  endpoints.forEach((e, i) => {
    if (!(e.weight > 0)) return;
    const t = tiers.get(e.priority) ?? { healthyWeight: 0, totalWeight: 0 };
    t.totalWeight += e.weight;
    if (usable(e, i)) t.healthyWeight += e.weight;
    tiers.set(e.priority, t);
  });
  for (const t of tiers.values()) if (100 * t.healthyWeight >= thresholdPct * t.totalWeight) return true;
  return false;
}

/**
 * Panic for the Backend that serves a request: every one of its priority tiers is below the threshold (Envoy's
 * "total panic"; while one tier is healthy enough, spill sends traffic there instead) and its fallback Backend, if
 * it has one, is no better off. A threshold of 0 disables panic; a Backend without weighted endpoints never panics.
 */
export function inPanic<E extends { weight: number; priority: number }>(
  target: PanicPool<E>,
  fallback: PanicPool<E> | undefined,
  thresholdPct: number,
): boolean {
  if (!(thresholdPct > 0)) return false;
  if (!target.endpoints.some((e) => e.weight > 0)) return false;
  if (someTierHealthy(target, thresholdPct)) return false;
  return !fallback || !someTierHealthy(fallback, thresholdPct);
}

/**
 * Tier loads in panic: each tier in proportion to the weight that may take traffic (Envoy's
 * recalculateLoadInTotalPanic shares load by each priority's size, healthy or not).
 */
export function panicLoads(tiers: readonly TierHealth[]): number[] {
  const total = tiers.reduce((sum, t) => sum + Math.max(0, t.healthyWeight), 0);
  return tiers.map((t) => (total > 0 ? Math.max(0, t.healthyWeight) / total : 0));
}
