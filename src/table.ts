/** The routing table an isolate serves (types only): a snapshot from KV compiled once per version into lookup structures. */
import type { PolicyIndex } from './ratelimit.js';
import type { RouteMatcher } from './routing.js';
import type { Backend, Snapshot } from './schema.js';

export interface CompiledTable {
  version: number;
  snapshot: Snapshot;
  matcher: RouteMatcher;
  /** Backends by "namespace/name". */
  backends: ReadonlyMap<string, Backend>;
  /** RateLimitPolicies by targeted route and rule. */
  policies: PolicyIndex;
  /** Time the compile took, for logs. */
  compileMs: number;
}
