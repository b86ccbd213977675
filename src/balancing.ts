/** Backend and endpoint choice (types only): which backendRef of a rule, and which endpoint of a Backend, serves a request. */
import type { Endpoint } from './schema.js';

/** Where the client is, from request.cf; any field may be missing. */
export interface ClientLocation {
  latitude?: number;
  longitude?: number;
  continent?: string;
}

export interface WeightedChoice {
  weight: number;
}

/** Decides whether an endpoint may take a request now (health, ejection, readiness, already tried). */
export type EndpointFilter = (endpoint: Endpoint, index: number) => boolean;

/** Turns per-tier health into per-tier traffic fractions (Envoy priority spill), see src/health/spill.ts. */
export type TierLoads = (tiers: readonly { healthyWeight: number; totalWeight: number }[]) => number[];
