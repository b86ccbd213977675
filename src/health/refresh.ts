/** Background pull of active health from the checker DOs into the isolate (never on the request path). */
import type { HealthSnapshot } from '../health.js';
import type { Backend } from '../schema/backend.js';
import { parseDuration } from '../schema/duration.js';
import type { HealthCheckerDO } from './durable-object.js';
import { resourceKey } from '../schema/keys.js';
import { circuitLogLine, type IsolateHealth } from './registry.js';

/** The slice of a DO namespace used here (a real DurableObjectNamespace<HealthCheckerDO> fits). */
export interface CheckerNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): { sync(backend: Backend): Promise<HealthSnapshot> } | DurableObjectStub<HealthCheckerDO>;
}

const inflight = new WeakMap<IsolateHealth, Set<string>>();

/** How often an isolate pulls a Backend's snapshot: a quarter of the probe interval, between 0.25 s and 5 s. */
export function refreshEveryMs(backend: Backend): number {
  const active = backend.spec.healthCheck?.active;
  if (!active) return 5000;
  return Math.min(5000, Math.max(250, Math.floor(parseDuration(active.interval) / 4)));
}

/**
 * Starts a `sync(backend)` RPC for each Backend whose snapshot is due (single flight per Backend and isolate) and
 * returns a promise for waitUntil, or null when nothing is due. Backends without an active check are synced only
 * while this isolate still holds an active snapshot for them, which is what turns their checker off.
 * Errors are logged and leave the old snapshot in place; it ages out after IsolateHealth's snapshotMaxAgeMs.
 */
export function refreshActiveHealth(
  health: IsolateHealth,
  ns: CheckerNamespace | undefined,
  backends: readonly Backend[],
  now: number,
  log: (line: Record<string, unknown>) => void = (l) => console.log(JSON.stringify(l)),
): Promise<void> | null {
  if (!ns) return null;
  let running = inflight.get(health);
  if (!running) inflight.set(health, (running = new Set()));
  const jobs: Promise<void>[] = [];
  for (const b of backends) {
    const id = resourceKey(b);
    const age = health.snapshotAge(b, now);
    const wantsActive = !!b.spec.healthCheck?.active;
    if (!wantsActive && (age === undefined || !health.activeConfigured(b))) continue;
    if (running.has(id) || (age !== undefined && age < refreshEveryMs(b))) continue;
    running.add(id);
    const stub = ns.get(ns.idFromName(id)) as { sync(backend: Backend): Promise<HealthSnapshot> };
    jobs.push(
      stub
        .sync(b)
        .then((snap) => {
          const at = Date.now();
          for (const change of health.applyActiveSnapshot({ ...snap, backend: id }, at)) console.log(circuitLogLine(change, at));
        })
        .catch((err: unknown) => log({ level: 'warn', event: 'health.refresh_failed', backend: id, error: String(err) }))
        .finally(() => running.delete(id)),
    );
  }
  return jobs.length ? Promise.all(jobs).then(() => undefined) : null;
}
