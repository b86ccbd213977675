/** Passive outlier detection and per-endpoint circuit breaker (Envoy semantics plus a half-open trial). */
import type { CircuitChange, CircuitCounters, CircuitState, CircuitView, OutlierConfig, OutlierGroup, PassiveOutcome } from '../health.js';
import type { PassiveHealthCheck } from '../schema/backend.js';
import { parseDuration } from '../schema/duration.js';

/** Used when a Backend has no `healthCheck.passive`: failures seen in an isolate still take an endpoint out. */
export const DEFAULT_OUTLIER: Required<OutlierConfig> = {
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  decayIntervalMs: 10_000,
  trialTimeoutMs: 10_000,
};

/** The schema's PassiveHealthCheck (durations as strings) as an OutlierConfig; defaults when absent. */
export function outlierConfig(passive: PassiveHealthCheck | undefined): OutlierConfig {
  if (!passive) return DEFAULT_OUTLIER;
  return {
    ...DEFAULT_OUTLIER,
    consecutiveFailures: passive.consecutiveFailures,
    baseEjectionMs: parseDuration(passive.baseEjectionTime),
    maxEjectionMs: parseDuration(passive.maxEjectionTime),
    maxEjectionPercent: passive.maxEjectionPercent,
  };
}

interface Circuit {
  state: CircuitState;
  consecutiveFailures: number;
  /** Times ejected, before decay; the ejection-time multiplier. */
  multiplier: number;
  ejectedUntil: number;
  /** When the current ejection started. */
  ejectedAt: number;
  /** When the circuit last closed (decay of the multiplier counts from here). */
  closedAt: number;
  /** When the half-open trial was handed out; undefined while none is in flight. */
  trialAt?: number;
  group?: string;
  config: Required<OutlierConfig>;
  lastReason?: string;
  /** The latest outcome when it was a failure; cleared by a success. Panic mode skips endpoints that refuse. */
  lastFailure?: PassiveOutcome;
  counters: CircuitCounters;
}

/**
 * Per-isolate detector. Every decision takes `now` so tests (and the health page) are deterministic.
 * Ejection time = base x times ejected (after decay), capped at max; at most maxEjectionPercent of a group
 * is ejected at once, but one endpoint always can be. Open turns half-open when the ejection expires; the
 * single trial request then closes (success) or re-ejects for longer (failure). Kong never re-enables from
 * passive data; this does, so a Backend without active checks still recovers.
 */
export class OutlierDetector {
  private readonly circuits = new Map<string, Circuit>();
  private readonly groups = new Map<string, { size: number; keys: Set<string> }>();
  private readonly defaults: Required<OutlierConfig>;

  constructor(defaults: OutlierConfig = DEFAULT_OUTLIER) {
    this.defaults = { ...DEFAULT_OUTLIER, ...defaults };
  }

  /** Records one request outcome. Returns the state change it caused, or null. */
  record(key: string, outcome: PassiveOutcome, now: number, group?: OutlierGroup): CircuitChange | null {
    const c = this.circuit(key, now, group);
    if (outcome === 'success') {
      c.counters.successes++;
      c.consecutiveFailures = 0;
      c.lastFailure = undefined;
      if (c.state === 'half-open') {
        c.state = 'closed';
        c.closedAt = now;
        c.trialAt = undefined;
        return this.change(key, c, 'half-open', 'trial request succeeded');
      }
      return null;
    }
    c.counters.failures++;
    c.lastFailure = outcome;
    if (c.state === 'open') return null; // a request sent before the ejection finished; already counted out
    if (c.state === 'half-open') {
      c.multiplier++;
      return this.eject(key, c, now, 'half-open', `trial request failed (${outcome})`);
    }
    c.consecutiveFailures++;
    if (c.consecutiveFailures < c.config.consecutiveFailures) return null;
    if (!this.mayEject(key, c, now)) {
      c.counters.ejectionsSkipped++;
      return null;
    }
    c.multiplier = Math.max(0, c.multiplier - Math.floor((now - c.closedAt) / c.config.decayIntervalMs)) + 1;
    return this.eject(key, c, now, 'closed', `${c.consecutiveFailures} consecutive failures (last: ${outcome})`);
  }

  /** Circuit state at `now` (an expired ejection reads as half-open). Unknown keys are closed. */
  state(key: string, now: number): CircuitState {
    const c = this.circuits.get(key);
    if (!c) return 'closed';
    this.refresh(c, now);
    return c.state;
  }

  /**
   * May a request go to this endpoint now? closed: yes; open: no; half-open: yes exactly once until the trial's
   * outcome is recorded (or trialTimeoutMs passes without one, e.g. the client went away).
   */
  admit(key: string, now: number): boolean {
    const c = this.circuits.get(key);
    if (!c) return true;
    this.refresh(c, now);
    if (c.state === 'closed') return true;
    if (c.state === 'open') return false;
    if (c.trialAt !== undefined && now - c.trialAt < c.config.trialTimeoutMs) return false;
    c.trialAt = now;
    c.counters.trials++;
    return true;
  }

  /**
   * Envoy's successful_active_health_check_uneject_host: an active probe that passed after the ejection began
   * closes the circuit at once, so recovery follows the probe interval rather than the ejection time. The
   * multiplier is kept: if real traffic still fails, the next ejection is longer.
   */
  uneject(key: string, probeAt: number, now: number, reason: string): CircuitChange | null {
    const c = this.circuits.get(key);
    if (!c) return null;
    this.refresh(c, now);
    if (c.state === 'closed' || probeAt <= c.ejectedAt) return null;
    const from = c.state;
    c.state = 'closed';
    c.closedAt = now;
    c.consecutiveFailures = 0;
    c.trialAt = undefined;
    return this.change(key, c, from, reason);
  }

  /**
   * Hands a half-open trial back without an outcome: the trial request was answered with an overload pause
   * (Retry-After, src/health/overload.ts), which says nothing about health, so the next request after the pause
   * takes the trial instead of waiting out trialTimeoutMs.
   */
  releaseTrial(key: string): void {
    const c = this.circuits.get(key);
    if (c?.state === 'half-open') c.trialAt = undefined;
  }

  /** The endpoint's latest recorded outcome, when that was a failure (undefined after a success, or if never seen). */
  lastFailure(key: string): PassiveOutcome | undefined {
    return this.circuits.get(key)?.lastFailure;
  }

  /** Whether a half-open trial could be handed out now (does not take it). */
  trialAvailable(key: string, now: number): boolean {
    const c = this.circuits.get(key);
    if (!c) return false;
    this.refresh(c, now);
    return c.state === 'half-open' && (c.trialAt === undefined || now - c.trialAt >= c.config.trialTimeoutMs);
  }

  view(key: string, now: number): CircuitView | undefined {
    const c = this.circuits.get(key);
    if (!c) return undefined;
    this.refresh(c, now);
    return {
      key,
      state: c.state,
      consecutiveFailures: c.consecutiveFailures,
      ...(c.state === 'open' ? { ejectedUntil: c.ejectedUntil } : {}),
      multiplier: c.multiplier,
      ...(c.lastReason ? { lastReason: c.lastReason } : {}),
      counters: { ...c.counters },
    };
  }

  describe(now: number): CircuitView[] {
    return [...this.circuits.keys()].map((k) => this.view(k, now)!);
  }

  /** Drops endpoints that left the table so the maps stay bounded by the table size. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, c] of this.circuits) {
      if (keys.has(key)) continue;
      this.circuits.delete(key);
      if (c.group) this.groups.get(c.group)?.keys.delete(key);
    }
    for (const [id, g] of this.groups) if (g.keys.size === 0) this.groups.delete(id);
  }

  private circuit(key: string, now: number, group?: OutlierGroup): Circuit {
    let c = this.circuits.get(key);
    if (!c) {
      c = {
        state: 'closed',
        consecutiveFailures: 0,
        multiplier: 0,
        ejectedUntil: 0,
        ejectedAt: 0,
        closedAt: now,
        config: this.defaults,
        counters: { successes: 0, failures: 0, ejections: 0, trials: 0, ejectionsSkipped: 0 },
      };
      this.circuits.set(key, c);
    }
    if (group) {
      c.config = { ...this.defaults, ...group.config };
      if (c.group !== group.id) {
        if (c.group) this.groups.get(c.group)?.keys.delete(key);
        c.group = group.id;
      }
      const g = this.groups.get(group.id) ?? { size: group.size, keys: new Set<string>() };
      g.size = group.size;
      g.keys.add(key);
      this.groups.set(group.id, g);
    }
    this.refresh(c, now);
    return c;
  }

  private refresh(c: Circuit, now: number): void {
    if (c.state === 'open' && now >= c.ejectedUntil) {
      c.state = 'half-open';
      c.trialAt = undefined;
    }
  }

  /** Envoy: eject while (ejected + 1) / size <= max%, and always when nothing in the group is ejected. */
  private mayEject(key: string, c: Circuit, now: number): boolean {
    if (!c.group) return true;
    const g = this.groups.get(c.group);
    if (!g) return true;
    let ejected = 0;
    for (const k of g.keys) {
      if (k === key) continue;
      const other = this.circuits.get(k);
      if (!other) continue;
      this.refresh(other, now);
      if (other.state !== 'closed') ejected++;
    }
    if (ejected === 0) return true;
    const size = Math.max(g.size, g.keys.size);
    return (100 * (ejected + 1)) / size <= c.config.maxEjectionPercent;
  }

  private eject(key: string, c: Circuit, now: number, from: CircuitState, reason: string): CircuitChange {
    c.state = 'open';
    c.consecutiveFailures = 0;
    c.trialAt = undefined;
    c.ejectedAt = now;
    c.ejectedUntil = now + Math.min(c.config.maxEjectionMs, c.config.baseEjectionMs * c.multiplier);
    c.counters.ejections++;
    return this.change(key, c, from, reason);
  }

  private change(key: string, c: Circuit, from: CircuitState, reason: string): CircuitChange {
    c.lastReason = reason;
    return {
      key,
      from,
      to: c.state,
      reason,
      ...(c.state === 'open' ? { until: c.ejectedUntil } : {}),
      ejections: c.multiplier,
    };
  }
}
