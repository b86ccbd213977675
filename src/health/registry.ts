/** Per-isolate health: combines active state (from the checker DO), passive outlier state and agent readiness. */
import type { CircuitChange, EndpointHealth, EndpointVerdict, HealthSnapshot, HealthView, PassiveOutcome, TierHealth } from '../health.js';
import type { Backend, Endpoint } from '../schema/backend.js';
import { resourceKey } from '../schema/keys.js';
import { OutlierDetector, outlierConfig } from './outlier.js';
import { EndpointLoad } from './overload.js';
import { priorityLoads } from './spill.js';
import type { RetryBudget } from './retry.js';

/** `${namespace}/${name}|${url}|${cluster}`: stable across snapshot versions while the endpoint stays. */
export function endpointKey(backend: Pick<Backend, 'metadata'>, endpoint: Pick<Endpoint, 'url' | 'cluster'>): string {
  // An endpoint object belongs to one Backend of one snapshot, so its key can be cached on it: this runs per request.
  let key = endpointKeys.get(endpoint);
  if (key === undefined) endpointKeys.set(endpoint, (key = `${resourceKey(backend)}|${endpoint.url}|${endpoint.cluster}`));
  return key;
}
const endpointKeys = new WeakMap<object, string>();

export interface IsolateHealthOptions {
  /** Active state older than this (isolate clock) is ignored: if the DO is unreachable we fall back to passive. */
  snapshotMaxAgeMs?: number;
  outlier?: OutlierDetector;
  retryBudget?: RetryBudget;
}

interface HeldSnapshot {
  snapshot: HealthSnapshot;
  receivedAt: number;
  byKey: Map<string, EndpointHealth>;
}

/**
 * One per isolate (module scope). Nothing here does I/O: the Worker pulls `HealthCheckerDO.sync()` in the
 * background (waitUntil) and hands the result to `applyActiveSnapshot`; the proxy calls `record` after every
 * attempt. An endpoint is usable when all three signals allow it; unknown signals never exclude.
 */
export class IsolateHealth {
  readonly outlier: OutlierDetector;
  readonly retryBudget?: RetryBudget;
  /** Requests in flight and Retry-After pauses per endpoint: load, not health (panic and spill never see it). */
  readonly load = new EndpointLoad();
  private readonly maxAgeMs: number;
  private readonly snapshots = new Map<string, HeldSnapshot>();

  constructor(options: IsolateHealthOptions = {}) {
    this.outlier = options.outlier ?? new OutlierDetector();
    this.retryBudget = options.retryBudget;
    this.maxAgeMs = options.snapshotMaxAgeMs ?? 60_000;
  }

  /**
   * Caches the checker DO's snapshot. An endpoint whose latest probe passed after it was ejected is un-ejected
   * (Envoy's successful_active_health_check_uneject_host); the returned changes are for the log.
   */
  applyActiveSnapshot(snapshot: HealthSnapshot, now: number): CircuitChange[] {
    const byKey = new Map(snapshot.endpoints.map((e) => [e.key, e]));
    this.snapshots.set(snapshot.backend, { snapshot, receivedAt: now, byKey });
    const changes: CircuitChange[] = [];
    for (const e of snapshot.endpoints) {
      const p = e.lastProbe;
      if (e.state !== 'healthy' || e.consecutiveFailures > 0 || !p || p.error || p.status === undefined) continue;
      const change = this.outlier.uneject(e.key, p.at, now, `active probe passed (status ${p.status})`);
      if (change) changes.push(change);
    }
    return changes;
  }

  /** When the Backend's active snapshot was last applied (undefined: never), to schedule refreshes. */
  snapshotAge(backend: Pick<Backend, 'metadata'>, now: number): number | undefined {
    const held = this.snapshots.get(resourceKey(backend));
    return held ? now - held.receivedAt : undefined;
  }

  /** Whether the last snapshot held for this Backend came from a running active check. */
  activeConfigured(backend: Pick<Backend, 'metadata'>): boolean {
    return this.snapshots.get(resourceKey(backend))?.snapshot.active ?? false;
  }

  /** Active state for the endpoint if a fresh snapshot has it. */
  active(key: string, backend: Pick<Backend, 'metadata'>, now: number): EndpointHealth | undefined {
    const held = this.snapshots.get(resourceKey(backend));
    if (!held || now - held.receivedAt > this.maxAgeMs) return undefined;
    return held.byKey.get(key);
  }

  verdict(key: string, endpoint: Endpoint, backend: Backend, now: number): EndpointVerdict {
    const reasons: string[] = [];
    // A stale endpoint (its agent went quiet) is judged on its last report like any other: staleness never exempts it.
    if (endpoint.readyEndpoints === 0)
      reasons.push(endpoint.stale ? 'agent reported 0 ready endpoints (stale)' : 'agent reports 0 ready endpoints');
    const active = this.active(key, backend, now);
    if (active?.state === 'unhealthy') reasons.push(`active: ${active.reason ?? 'unhealthy'}`);
    const circuit = this.outlier.state(key, now);
    if (circuit !== 'closed') {
      const v = this.outlier.view(key, now);
      reasons.push(`passive: circuit ${circuit}${v?.lastReason ? ` (${v.lastReason})` : ''}`);
    }
    const otherwiseFine = reasons.length === (circuit === 'closed' ? 0 : 1);
    return {
      usable: reasons.length === 0,
      trial: circuit === 'half-open' && otherwiseFine && this.outlier.trialAvailable(key, now),
      reasons,
    };
  }

  /**
   * Known to refuse connections: the latest passive outcome or the latest fresh active probe was a connection
   * failure. workerd reports a refused connection and one reset after sending alike, so both count. Panic mode
   * (src/health/panic.ts) sends traffic to unhealthy endpoints, but never to these.
   */
  refusing(key: string, backend: Pick<Backend, 'metadata'>, now: number): boolean {
    return this.outlier.lastFailure(key) === 'connect-failure' || this.active(key, backend, now)?.lastProbe?.error === 'connect-failure';
  }

  usable(key: string, endpoint: Endpoint, backend: Backend, now: number): boolean {
    return this.verdict(key, endpoint, backend, now).usable;
  }

  /** Consumes the half-open trial (or says yes for a closed circuit). Call right before sending. */
  admit(key: string, now: number): boolean {
    return this.outlier.admit(key, now);
  }

  /** Records one attempt's outcome against the endpoint, with the Backend's passive config and group size. */
  record(key: string, backend: Backend, outcome: PassiveOutcome, now: number): CircuitChange | null {
    return this.outlier.record(key, outcome, now, {
      id: resourceKey(backend),
      size: backend.spec.endpoints.length,
      config: outlierConfig(backend.spec.healthCheck?.passive),
    });
  }

  /** Healthy and total weight per priority tier, tiers sorted by priority (index i = i-th lowest priority). */
  tiers(backend: Backend, now: number): { priority: number; tier: TierHealth }[] {
    const byPriority = new Map<number, TierHealth>();
    for (const e of backend.spec.endpoints) {
      const t = byPriority.get(e.priority) ?? { healthyWeight: 0, totalWeight: 0 };
      t.totalWeight += e.weight;
      if (this.usable(endpointKey(backend, e), e, backend, now)) t.healthyWeight += e.weight;
      byPriority.set(e.priority, t);
    }
    return [...byPriority.entries()].sort((a, b) => a[0] - b[0]).map(([priority, tier]) => ({ priority, tier }));
  }

  /** Forgets endpoints no longer in the table. */
  retain(backends: readonly Backend[]): void {
    const keys = new Set<string>();
    const ids = new Set<string>();
    for (const b of backends) {
      ids.add(resourceKey(b));
      for (const e of b.spec.endpoints) keys.add(endpointKey(b, e));
    }
    this.outlier.retain(keys);
    this.load.retain(keys);
    for (const id of this.snapshots.keys()) if (!ids.has(id)) this.snapshots.delete(id);
  }

  describe(now: number, backends: readonly Backend[]): HealthView {
    return {
      generatedAt: now,
      backends: backends.map((b) => ({
        backend: resourceKey(b),
        endpoints: b.spec.endpoints.map((e) => {
          const key = endpointKey(b, e);
          const active = this.active(key, b, now);
          const passive = this.outlier.view(key, now);
          const load = this.load.view(key, now);
          return {
            key,
            url: e.url,
            cluster: e.cluster,
            ...(e.region ? { region: e.region } : {}),
            priority: e.priority,
            ...(e.readyEndpoints !== undefined ? { readyEndpoints: e.readyEndpoints } : {}),
            ...(e.stale ? { stale: true, owner: e.owner } : {}),
            ...this.verdict(key, e, b, now),
            ...(active ? { active } : {}),
            ...(passive ? { passive } : {}),
            ...(load ? { load } : {}),
          };
        }),
        tierLoads: priorityLoads(
          this.tiers(b, now).map((t) => t.tier),
          b.spec.failover?.overprovisioningFactor ?? 1.4,
        ),
      })),
      ...(this.retryBudget ? { retryBudget: this.retryBudget.view(now) } : {}),
    };
  }
}

/** One JSON log line for a circuit change (the proxy prints it; logs must record every change with its reason). */
export function circuitLogLine(change: CircuitChange, now: number, route?: string): string {
  return JSON.stringify({
    level: change.to === 'closed' ? 'info' : 'warn',
    event: 'health.passive.change',
    at: new Date(now).toISOString(),
    endpoint: change.key,
    from: change.from,
    to: change.to,
    reason: change.reason,
    ...(change.until !== undefined ? { until: new Date(change.until).toISOString() } : {}),
    ejections: change.ejections,
    ...(route ? { route } : {}),
  });
}
