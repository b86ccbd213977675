/** Builds a CompiledTable from a validated snapshot: matcher, Backends, policies and every rule's request plan. */
import { compilePolicies } from '../ratelimit/compile.js';
import { compileIndexed } from '../routing/indexed/index.js';
import type { Snapshot } from '../schema.js';
import { resourceKey } from '../schema/keys.js';
import type { CompiledTable } from '../table.js';
import { planBackends, planTable } from './plan.js';

export function compileTable(snapshot: Snapshot, clock: () => number = () => performance.now()): CompiledTable {
  const started = clock();
  const matcher = compileIndexed(snapshot.routes);
  const backends = new Map(snapshot.backends.map((b) => [resourceKey(b), b]));
  const policies = compilePolicies(snapshot.policies);
  const plans = planTable(snapshot.routes, planBackends(snapshot.backends), policies);
  return { version: snapshot.version, snapshot, matcher, backends, policies, plans, compileMs: clock() - started };
}
