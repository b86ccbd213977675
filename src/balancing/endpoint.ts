/** Endpoint choice inside one Backend: priority tier (with spill), then the region nearest the client, then weights. */
import type { ClientLocation, EndpointFilter, TierLoads } from '../balancing.js';
import type { Endpoint } from '../schema.js';
import { clientPosition, distanceKm, REGION_COORDINATES } from './regions.js';
import { chooseWeighted } from './weighted.js';

export interface EndpointChoice {
  index: number;
  endpoint: Endpoint;
  tier: number;
}

// Regions closer than this to the nearest one count as equally near, so two metros next to each other share load.
const SAME_DISTANCE_KM = 300;

/** Lowest tier with anything usable takes everything: the issue-2 behaviour, and the fallback when no spill is given. */
export const lowestUsableTier: TierLoads = (tiers) => {
  const first = tiers.findIndex((t) => t.healthyWeight > 0);
  return tiers.map((_, i) => (i === first ? 1 : 0));
};

export function chooseEndpoint(
  endpoints: readonly Endpoint[],
  options: { usable: EndpointFilter; client: ClientLocation; rand: () => number; tierLoads?: TierLoads },
): EndpointChoice | null {
  const { usable, client, rand } = options;
  // Most Backends behind a route have one endpoint per cluster and many have just one: skip the tier bookkeeping.
  if (endpoints.length === 1) {
    const only = endpoints[0]!;
    return only.weight > 0 && usable(only, 0) ? { index: 0, endpoint: only, tier: only.priority } : null;
  }
  const tierOf = [...new Set(endpoints.map((e) => e.priority))].sort((a, b) => a - b);
  const tiers = tierOf.map(() => ({ healthyWeight: 0, totalWeight: 0, members: [] as number[] }));
  endpoints.forEach((ep, i) => {
    const t = tiers[tierOf.indexOf(ep.priority)]!;
    t.totalWeight += ep.weight;
    if (ep.weight > 0 && usable(ep, i)) {
      t.healthyWeight += ep.weight;
      t.members.push(i);
    }
  });
  const loads = (options.tierLoads ?? lowestUsableTier)(tiers);
  const tierIndex = chooseWeighted(
    loads.map((weight) => ({ weight })),
    rand,
    (i) => tiers[i]!.members.length > 0,
  );
  if (tierIndex < 0) return null;
  const members = nearest(tiers[tierIndex]!.members, endpoints, client);
  const pick = chooseWeighted(
    members.map((i) => endpoints[i]!),
    rand,
  );
  if (pick < 0) return null;
  const index = members[pick]!;
  return { index, endpoint: endpoints[index]!, tier: tierOf[tierIndex]! };
}

/** Keeps the members in the region(s) nearest the client; all of them when location or regions are unknown. */
function nearest(members: number[], endpoints: readonly Endpoint[], client: ClientLocation): number[] {
  const here = clientPosition(client);
  if (!here || members.length < 2) return members;
  const dist = members.map((i) => {
    const at = REGION_COORDINATES[endpoints[i]!.region ?? ''];
    return at ? distanceKm(here, at) : Infinity;
  });
  const best = Math.min(...dist);
  if (!Number.isFinite(best)) return members;
  return members.filter((_, k) => dist[k]! <= best + SAME_DISTANCE_KM);
}
