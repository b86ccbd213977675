/** The routing table an isolate serves: a snapshot from KV compiled once per version into lookup structures. */
import type { RouteMatcher } from './routing.js';
import type { Backend, Snapshot } from './schema.js';

export interface CompiledTable {
  version: number;
  snapshot: Snapshot;
  matcher: RouteMatcher;
  /** Backends by "namespace/name". */
  backends: ReadonlyMap<string, Backend>;
  /** Time the compile took, for logs. */
  compileMs: number;
}

export { compileTable } from './table/compile.js';
export { TableCache, type TableSource } from './table/cache.js';
