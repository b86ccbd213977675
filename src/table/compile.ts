/** Builds a CompiledTable from a validated snapshot. */
import { compilePolicies } from '../ratelimit/compile.js';
import { compileIndexed } from '../routing/indexed/index.js';
import type { Snapshot } from '../schema.js';
import { resourceKey } from '../schema/keys.js';
import type { CompiledTable } from '../table.js';

export function compileTable(snapshot: Snapshot, clock: () => number = () => performance.now()): CompiledTable {
  const started = clock();
  const matcher = compileIndexed(snapshot.routes);
  const backends = new Map(snapshot.backends.map((b) => [resourceKey(b), b]));
  const policies = compilePolicies(snapshot.policies);
  return { version: snapshot.version, snapshot, matcher, backends, policies, compileMs: clock() - started };
}
