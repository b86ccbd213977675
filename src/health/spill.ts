/** Envoy priority-level spill: how much traffic each priority tier takes given its healthy weight. */
import type { TierHealth } from '../health.js';

/**
 * Per-tier traffic fractions (sum 1, or all 0 when nothing is healthy), computed exactly as Envoy's
 * LoadBalancerBase::recalculatePerPriorityState does it, in integer percent:
 *   health_i = min(100, floor(factor% * healthy_i / total_i))
 *   availability = min(100, sum health_i)
 *   load_i = min(remaining, floor(health_i * 100 / availability)), remainder to the first tier with health > 0.
 * Integer percent is what makes 71% healthy give 99/1 (140 * 0.71 = 99.4 -> 99) rather than 99.4/0.6.
 */
export function priorityLoads(tiers: readonly TierHealth[], overprovisioningFactor = 1.4): number[] {
  // Envoy carries the factor as an integer percent (140); doing the same avoids 1.4 * 100 float drift.
  const factorPct = Math.round(overprovisioningFactor * 100);
  const health = tiers.map((t) => {
    if (!(t.totalWeight > 0) || !(t.healthyWeight > 0)) return 0;
    const healthy = Math.min(t.healthyWeight, t.totalWeight);
    return Math.min(100, Math.floor((factorPct * healthy) / t.totalWeight));
  });
  const availability = Math.min(
    100,
    health.reduce((a, b) => a + b, 0),
  );
  if (availability === 0) return tiers.map(() => 0);
  let remaining = 100;
  const load = health.map((h) => {
    const l = Math.min(remaining, Math.floor((h * 100) / availability));
    remaining -= l;
    return l;
  });
  if (remaining > 0) {
    const first = health.findIndex((h) => h > 0);
    load[first] = load[first]! + remaining;
  }
  return load.map((l) => l / 100);
}

/** Picks a tier index with probability equal to its load; -1 when every load is 0. */
export function pickTier(loads: readonly number[], rand: () => number): number {
  const total = loads.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return -1;
  let r = rand() * total;
  let last = -1;
  for (let i = 0; i < loads.length; i++) {
    const l = loads[i]!;
    if (l <= 0) continue;
    last = i;
    if (r < l) return i;
    r -= l;
  }
  // Float residue when rand() is very close to 1: the last tier with load takes it.
  return last;
}
