/** HealthCheckerDO: active probes for one Backend from Durable Object alarms, with hysteresis and change logs. */
import { DurableObject } from 'cloudflare:workers';
import type { EndpointHealth, HealthSnapshot, HysteresisState, ProbeResult } from '../health.js';
import type { Env } from '../env.js';
import type { Backend } from '../schema/backend.js';
import { parseDuration } from '../schema/duration.js';
import { resourceKey } from '../schema/keys.js';
import { initialHysteresis, observeProbe } from './hysteresis.js';
import { endpointKey } from './registry.js';

/** What the object persists: the parts of the Backend that matter for probing. */
interface CheckConfig {
  backend: string;
  intervalMs: number;
  timeoutMs: number;
  path: string;
  expectedStatuses: number[];
  healthyThreshold: number;
  unhealthyThreshold: number;
  hostHeader?: string;
  endpoints: { key: string; url: string; cluster: string; hostHeader?: string }[];
}

export interface Stored {
  config: CheckConfig;
  endpoints: Record<string, EndpointHealth & { hysteresis: HysteresisState }>;
  lastRoundAt?: number;
}

/** workerd allows 6 open connections per invocation; more parallel probes would queue and time out falsely. */
const PROBE_CONCURRENCY = 6;

/** First probe after configure: soon, but not inside the configure call (tests drive alarms themselves). */
const FIRST_PROBE_DELAY_MS = 1000;

// On globalThis rather than in module scope: workerd tests load this module twice (test graph and main worker).
const PROBE_FETCH = Symbol.for('edgeway.health.probeFetch');
/** Test hook: replaces the fetch used for probes (undefined restores the global fetch). */
export function setProbeFetch(f: typeof fetch | undefined): void {
  (globalThis as Record<symbol, unknown>)[PROBE_FETCH] = f;
}
const probeFetch = (): typeof fetch => ((globalThis as Record<symbol, unknown>)[PROBE_FETCH] as typeof fetch | undefined) ?? fetch;

/** The probe config of a Backend, or null when it has no active check. */
export function checkConfig(backend: Backend): CheckConfig | null {
  const active = backend.spec.healthCheck?.active;
  if (!active) return null;
  return {
    backend: resourceKey(backend),
    intervalMs: parseDuration(active.interval),
    timeoutMs: parseDuration(active.timeout),
    path: active.path,
    expectedStatuses: [...active.expectedStatuses],
    healthyThreshold: active.healthyThreshold,
    unhealthyThreshold: active.unhealthyThreshold,
    ...(active.hostHeader ? { hostHeader: active.hostHeader } : {}),
    endpoints: backend.spec.endpoints.map((e) => ({
      key: endpointKey(backend, e),
      url: e.url,
      cluster: e.cluster,
      ...(e.hostHeader ? { hostHeader: e.hostHeader } : {}),
    })),
  };
}

/**
 * The probe request. workerd takes Host from the URL, so a hostHeader goes in the URL and the connection is
 * steered to the endpoint with cf.resolveOverride (emulated in dev/test by src/dev/outbound.ts).
 */
export function probeRequest(url: string, path: string, hostHeader: string | undefined): { url: string; init: RequestInit } {
  const target = new URL(url);
  if (!hostHeader || hostHeader === target.hostname) return { url: new URL(path, target).toString(), init: {} };
  const shown = new URL(target.toString());
  shown.hostname = hostHeader;
  return { url: new URL(path, shown).toString(), init: { cf: { resolveOverride: target.hostname } } as RequestInit };
}

export async function probe(url: string, cfg: CheckConfig, hostHeader: string | undefined, now: () => number): Promise<ProbeResult> {
  const req = probeRequest(url, cfg.path, hostHeader);
  const started = now();
  try {
    const res = await probeFetch()(req.url, {
      ...req.init,
      method: 'GET',
      redirect: 'manual',
      headers: { 'user-agent': 'edgeway-health/1' },
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
    await res.body?.cancel();
    // Dev/test only: the outbound hook reports a refused connection with this marker instead of throwing.
    const devConnectError = res.headers.get('x-edgeway-dev-connect-error');
    if (devConnectError) return { at: started, error: 'connect-failure', detail: devConnectError, latencyMs: now() - started };
    return { at: started, status: res.status, latencyMs: now() - started };
  } catch (err) {
    const e = err as Error;
    const timeout = e?.name === 'TimeoutError' || e?.name === 'AbortError';
    return {
      at: started,
      error: timeout ? 'timeout' : /network connection lost|connect|refused|reset/i.test(String(e?.message)) ? 'connect-failure' : 'error',
      detail: timeout ? `no answer within ${cfg.timeoutMs}ms` : String(e?.message ?? e).slice(0, 200),
      latencyMs: now() - started,
    };
  }
}

/**
 * Rounds keep a fixed cadence from their start (probe time doesn't stretch the interval). While an endpoint is
 * unhealthy (Envoy's unhealthy_interval) or part-way to a threshold, the next round comes after half an interval:
 * a change still needs its full count of consecutive results, so recovery is confirmed sooner without more flapping.
 */
export function nextRoundAt(s: Pick<Stored, 'config' | 'endpoints'>, startedAt: number, now: number): number {
  const fast = Object.values(s.endpoints).some((e) => e.state === 'unhealthy' || (e.state === 'healthy' && e.consecutiveFailures > 0));
  const at = startedAt + (fast ? Math.ceil(s.config.intervalMs / 2) : s.config.intervalMs);
  return Math.max(at, now + 100);
}

/**
 * One object per Backend (idFromName("ns/name")). Probes run from the alarm; the alarm is re-armed in `finally`
 * because alarms don't repeat, and re-arming only moves it earlier, so an at-least-once redelivery or a
 * concurrent `configure` never stacks a second schedule. A redelivered alarm less than a
 * quarter interval after the last round skips probing, so duplicates can't double-count toward a threshold.
 */
export class HealthCheckerDO extends DurableObject<Env> {
  private stored: Stored | null = null;
  /** Bumped by every configure(); a round that started under an older config doesn't write its results. */
  private generation = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.stored = (await ctx.storage.get<Stored>('state')) ?? null;
    });
  }

  /** Sets the Backend to check (or stops checking when it has no active check) and arms the alarm. */
  async configure(backend: Backend): Promise<HealthSnapshot> {
    const config = checkConfig(backend);
    this.generation++;
    if (!config) {
      this.stored = null;
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      return this.snapshotOf(resourceKey(backend));
    }
    const prev = this.stored?.endpoints ?? {};
    const endpoints: Stored['endpoints'] = {};
    for (const e of config.endpoints) {
      endpoints[e.key] = prev[e.key] ?? {
        key: e.key,
        url: e.url,
        cluster: e.cluster,
        state: 'unknown',
        consecutiveSuccesses: 0,
        consecutiveFailures: 0,
        counters: { probes: 0, failures: 0, stateChanges: 0 },
        hysteresis: initialHysteresis(),
      };
    }
    this.stored = { config, endpoints, ...(this.stored?.lastRoundAt !== undefined ? { lastRoundAt: this.stored.lastRoundAt } : {}) };
    await this.ctx.storage.put('state', this.stored);
    await this.arm(Date.now() + Math.min(config.intervalMs, FIRST_PROBE_DELAY_MS));
    return this.snapshot();
  }

  /** configure() only when the Backend's probe settings changed, then snapshot(): one RPC per isolate refresh. */
  async sync(backend: Backend): Promise<HealthSnapshot> {
    const config = checkConfig(backend);
    const same = config ? JSON.stringify(config) === JSON.stringify(this.stored?.config) : this.stored === null;
    return same ? this.snapshot() : this.configure(backend);
  }

  async snapshot(): Promise<HealthSnapshot> {
    return this.snapshotOf(this.stored?.config.backend ?? '');
  }

  override async alarm(): Promise<void> {
    const startedAt = Date.now();
    try {
      const s = this.stored;
      if (!s) return;
      if (s.lastRoundAt !== undefined && startedAt - s.lastRoundAt < s.config.intervalMs / 4) return;
      await this.round(s, startedAt);
    } catch (err) {
      console.error(
        JSON.stringify({ level: 'error', event: 'health.active.round_failed', backend: this.stored?.config.backend, error: String(err) }),
      );
    } finally {
      if (this.stored) await this.arm(nextRoundAt(this.stored, startedAt, Date.now()), startedAt);
    }
  }

  private async round(s: Stored, startedAt: number): Promise<void> {
    const generation = this.generation;
    const cfg = s.config;
    const results = new Map<string, ProbeResult>();
    const queue = [...cfg.endpoints];
    const worker = async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        results.set(e.key, await probe(e.url, cfg, cfg.hostHeader ?? e.hostHeader, Date.now));
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, queue.length) }, worker));
    // configure() may have run while we awaited the probes: its config wins and these results are dropped.
    if (generation !== this.generation || this.stored !== s) return;
    for (const [key, result] of results) {
      const ep = s.endpoints[key];
      if (!ep) continue;
      const t = observeProbe(ep.hysteresis, result, cfg);
      ep.hysteresis = t.next;
      ep.lastProbe = result;
      ep.counters.probes++;
      if (result.error || !cfg.expectedStatuses.includes(result.status ?? -1)) ep.counters.failures++;
      ep.consecutiveSuccesses = t.next.consecutiveSuccesses;
      ep.consecutiveFailures = t.next.consecutiveFailures;
      if (t.changed) {
        ep.state = t.next.state;
        ep.reason = t.reason;
        ep.changedAt = result.at;
        ep.counters.stateChanges++;
        console.log(
          JSON.stringify({
            level: t.next.state === 'healthy' ? 'info' : 'warn',
            event: 'health.active.change',
            at: new Date(result.at).toISOString(),
            backend: cfg.backend,
            endpoint: key,
            from: t.from,
            to: t.next.state,
            reason: t.reason,
          }),
        );
      }
    }
    s.lastRoundAt = startedAt;
    await this.ctx.storage.put('state', s);
  }

  /** Sets the alarm to `at` unless one is already due sooner (an alarm at or before `stale` is the one running). */
  private async arm(at: number, stale = -Infinity): Promise<void> {
    const existing = await this.ctx.storage.getAlarm();
    if (existing === null || existing <= stale || existing > at) await this.ctx.storage.setAlarm(at);
  }

  private async snapshotOf(backend: string): Promise<HealthSnapshot> {
    const s = this.stored;
    return {
      backend,
      active: s !== null,
      ...(s ? { intervalMs: s.config.intervalMs } : {}),
      generatedAt: Date.now(),
      ...(s?.lastRoundAt !== undefined ? { lastRoundAt: s.lastRoundAt } : {}),
      nextAlarmAt: await this.ctx.storage.getAlarm(),
      endpoints: s
        ? s.config.endpoints.map((e) => {
            const view: EndpointHealth & { hysteresis?: HysteresisState } = { ...s.endpoints[e.key]! };
            delete view.hysteresis;
            return view;
          })
        : [],
    };
  }
}
