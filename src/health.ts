/** Endpoint health: types shared by the pure decision modules (src/health/*), the checker DO and the proxy (types only). */

/** One priority tier's weights for the spill computation (src/health/spill.ts). */
export interface TierHealth {
  healthyWeight: number;
  totalWeight: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Passive: outlier detection / circuit breaker per endpoint (src/health/outlier.ts)

/** What a proxied request told us about the endpoint. 4xx and other non-5xx answers are 'success'. */
export type PassiveOutcome = 'success' | 'connect-failure' | 'timeout' | 'http-5xx';

/** closed = serving; open = ejected; half-open = ejection over, one trial request decides. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Outlier settings in milliseconds (PassiveHealthCheck with durations parsed). */
export interface OutlierConfig {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
  /** Healthy time that takes one step off the ejection multiplier (Envoy's interval, default 10s). */
  decayIntervalMs?: number;
  /** A half-open trial whose outcome was never recorded is given up after this long (default 10s). */
  trialTimeoutMs?: number;
}

/** The endpoints that share a max-ejection-percent budget (one Backend) and that Backend's config. */
export interface OutlierGroup {
  id: string;
  size: number;
  config?: OutlierConfig;
}

export interface CircuitChange {
  key: string;
  from: CircuitState;
  to: CircuitState;
  reason: string;
  /** When an open circuit turns half-open (ms epoch). */
  until?: number;
  /** Times ejected (after decay), the ejection-time multiplier. */
  ejections: number;
}

export interface CircuitCounters {
  successes: number;
  failures: number;
  ejections: number;
  trials: number;
  /** Ejections skipped because the group was at maxEjectionPercent. */
  ejectionsSkipped: number;
}

export interface CircuitView {
  key: string;
  state: CircuitState;
  consecutiveFailures: number;
  ejectedUntil?: number;
  multiplier: number;
  lastReason?: string;
  counters: CircuitCounters;
}

// ---------------------------------------------------------------------------------------------------------------
// Active: probe hysteresis (src/health/hysteresis.ts) and the checker Durable Object (src/health/durable-object.ts)

/** unknown = never probed (or no active check): does not exclude an endpoint. */
export type ActiveState = 'unknown' | 'healthy' | 'unhealthy';

export interface ProbeResult {
  at: number;
  /** HTTP status when an answer came back. */
  status?: number;
  /** Transport failure when none did. */
  error?: 'connect-failure' | 'timeout' | 'error';
  detail?: string;
  latencyMs?: number;
}

export interface Thresholds {
  healthyThreshold: number;
  unhealthyThreshold: number;
  expectedStatuses: readonly number[];
}

export interface HysteresisState {
  state: ActiveState;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  reason?: string;
  changedAt?: number;
}

export interface Transition {
  next: HysteresisState;
  changed: boolean;
  from: ActiveState;
  /** Why the probe counted as it did, e.g. "status 503 not in [200]" or "3 consecutive failures". */
  reason: string;
}

/** One endpoint as the checker DO reports it. */
export interface EndpointHealth {
  key: string;
  url: string;
  cluster: string;
  state: ActiveState;
  reason?: string;
  changedAt?: number;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  lastProbe?: ProbeResult;
  counters: { probes: number; failures: number; stateChanges: number };
}

/** What `HealthCheckerDO.snapshot()` returns and isolates cache (`IsolateHealth.applyActiveSnapshot`). */
export interface HealthSnapshot {
  /** "namespace/name" of the Backend. */
  backend: string;
  /** false when the Backend has no active check: every endpoint is 'unknown'. */
  active: boolean;
  intervalMs?: number;
  generatedAt: number;
  lastRoundAt?: number;
  nextAlarmAt?: number | null;
  endpoints: EndpointHealth[];
}

// ---------------------------------------------------------------------------------------------------------------
// Combined per-isolate view (src/health/registry.ts) and the health page (src/health/page.ts)

export interface EndpointVerdict {
  /** Takes normal traffic: ready, not actively unhealthy, circuit closed. */
  usable: boolean;
  /** Circuit half-open: may take exactly one trial request via `admit`. */
  trial: boolean;
  reasons: string[];
}

export interface HealthView {
  generatedAt: number;
  backends: {
    backend: string;
    endpoints: (EndpointVerdict & {
      key: string;
      url: string;
      cluster: string;
      region?: string;
      priority: number;
      readyEndpoints?: number;
      /** The owning cluster's agent stopped heartbeating; the endpoint is kept, and flagged here. */
      stale?: boolean;
      owner?: string | undefined;
      active?: EndpointHealth;
      passive?: CircuitView;
      /** Requests in flight from this isolate and any Retry-After pause (src/health/overload.ts); absent when idle. */
      load?: LoadView;
    })[];
    tierLoads: number[];
  }[];
  retryBudget?: RetryBudgetView;
}

/** One endpoint's load in this isolate (src/health/overload.ts). */
export interface LoadView {
  inFlight: number;
  /** Paused by the upstream's Retry-After until then (ms epoch). */
  heldUntil?: number;
}

export interface RetryBudgetView {
  requests: number;
  retries: number;
  activeRetries: number;
  denied: number;
}
