/**
 * Load shedding per endpoint, per isolate: Envoy's `max_requests` circuit breaker (requests in flight) and upstream
 * overload signals (a 503 or 429 with `Retry-After` pauses the endpoint for that long, bounded).
 */
import type { LoadView } from '../health.js';

/** Envoy's circuit-breaker default for max_requests. */
export const DEFAULT_MAX_REQUESTS = 1024;
/** Longest pause an upstream's Retry-After can impose when circuitBreaker.maxRetryAfter is not set. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/** Statuses whose Retry-After says "I am overloaded, come back later" (RFC 9110 §15.6.4, RFC 6585 §4). */
export const OVERLOAD_STATUSES: ReadonlySet<number> = new Set([429, 503]);

// All three HTTP-date forms (IMF-fixdate, RFC 850, asctime) start with a day name; anything else is not a date.
const HTTP_DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? [ 0-9A-Za-z:-]+$/;

/**
 * A Retry-After value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as milliseconds from `now`, capped at
 * `maxMs`. Undefined when there is nothing to honour: absent, empty, garbage, negative, zero, a date in the past,
 * or `maxMs` <= 0 (honouring disabled). Hostile values can never pause an endpoint for longer than `maxMs`.
 */
export function parseRetryAfter(value: string | null | undefined, now: number, maxMs: number): number | undefined {
  if (value === null || value === undefined || !(maxMs > 0)) return undefined;
  const v = value.trim();
  if (v.length === 0 || v.length > 64) return undefined;
  let ms: number;
  if (/^[0-9]+$/.test(v)) ms = Number(v) * 1000;
  else if (HTTP_DATE_RE.test(v)) ms = Date.parse(v) - now;
  else return undefined;
  if (!(ms > 0)) return undefined;
  return Math.min(ms, maxMs);
}

/**
 * In-flight counts and Retry-After pauses of one isolate (as each Envoy enforces its own breakers). Callers
 * acquire a slot right before an attempt and release it exactly once when the attempt's fetch settles (headers
 * arrived, failed, timed out or was aborted). Nothing here queues: an endpoint without room is simply not chosen.
 */
export class EndpointLoad {
  private readonly inFlight = new Map<string, number>();
  private readonly held = new Map<string, number>();

  /** 0 when the endpoint may take a request now; otherwise how long (ms) until it may, at least 1. */
  wait(key: string, maxRequests: number, now: number): number {
    const until = this.heldUntil(key, now);
    if (until !== undefined) return until - now;
    // A slot frees when any in-flight attempt gets its headers: usually well under a second, so say 1 s.
    return (this.inFlight.get(key) ?? 0) >= maxRequests ? 1000 : 0;
  }

  inFlightCount(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }

  acquire(key: string): void {
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
  }

  /** Never below 0, so a release after `retain` dropped the endpoint cannot corrupt a later count. */
  release(key: string): void {
    const n = (this.inFlight.get(key) ?? 0) - 1;
    if (n > 0) this.inFlight.set(key, n);
    else this.inFlight.delete(key);
  }

  /** Pauses the endpoint until `until` (a longer pause already in place is kept). True when it was not paused. */
  hold(key: string, until: number, now: number): boolean {
    const was = this.heldUntil(key, now);
    if (was === undefined || until > was) this.held.set(key, until);
    return was === undefined;
  }

  heldUntil(key: string, now: number): number | undefined {
    const until = this.held.get(key);
    if (until === undefined) return undefined;
    if (until > now) return until;
    this.held.delete(key);
    return undefined;
  }

  view(key: string, now: number): LoadView | undefined {
    const inFlight = this.inFlight.get(key) ?? 0;
    const heldUntil = this.heldUntil(key, now);
    if (inFlight === 0 && heldUntil === undefined) return undefined;
    return { inFlight, ...(heldUntil !== undefined ? { heldUntil } : {}) };
  }

  /** Forgets endpoints no longer in the table. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.inFlight.keys()) if (!keys.has(k)) this.inFlight.delete(k);
    for (const k of this.held.keys()) if (!keys.has(k)) this.held.delete(k);
  }
}

/** One JSON log line when an upstream's Retry-After starts pausing an endpoint. */
export function overloadLogLine(key: string, status: number, until: number, now: number, route?: string): string {
  return JSON.stringify({
    level: 'warn',
    event: 'health.overload.hold',
    at: new Date(now).toISOString(),
    endpoint: key,
    reason: `upstream answered ${status} with Retry-After`,
    until: new Date(until).toISOString(),
    ...(route ? { route } : {}),
  });
}
