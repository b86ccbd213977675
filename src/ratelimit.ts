/** Rate limiting: the Durable Object RPC contract, compiled policies and the per-isolate lease types (the gate is ratelimit/gate.ts). */
import type { ClientIPGrouping, RateLimitKey } from './schema.js';

export type Algorithm = 'SlidingWindow' | 'TokenBucket';

export interface LimitSpec {
  requests: number;
  windowMs: number;
}

/** What a RateLimiterDO needs to know about its policy; sent with every call so the object needs no other lookup. */
export interface LimiterConfig {
  algorithm: Algorithm;
  limits: LimitSpec[];
  countDenied: boolean;
}

/** Unused permits of an expired lease given back to the object (unused 0 = "fully used", frees the lease cap). */
export interface LeaseReturn {
  leaseId: string;
  unused: number;
  /** Caller's clock when it used the lease's last permit: the used ones are re-dated to then. */
  lastUsedAt?: number;
}

/**
 * Requests an isolate let through while the limiter failed (failOpen): the object counts them late, at the time they
 * were admitted (`agoMs` before the call was sent), whatever the limit says.
 */
export interface AdmittedReport {
  n: number;
  agoMs: number;
}

export interface AcquireRequest {
  config: LimiterConfig;
  /** Permits the caller uses at once (1 per request; a batch of waiting requests asks for one each). */
  need: number;
  /** Grant as many of `need` as fit instead of all or nothing (a batch: each permit answers one request). */
  partial?: boolean;
  /** Random id of the calling isolate: the object lifts the batch cap while only one isolate uses the key. */
  caller?: string;
  /** Extra permits the isolate would like to hold as a lease (a hint; the object may grant fewer). */
  want: number;
  returns?: LeaseReturn[];
  admitted?: AdmittedReport[];
  /** Caller's clock when it sent the call: lets the object count the permit at the caller's time of use. */
  sentAt?: number;
}

/** One limit as the object sees it right after the call. */
export interface LimitView {
  requests: number;
  windowMs: number;
  /** Quota left, outstanding leases counted as used. */
  remaining: number;
  /** Milliseconds until nothing is counted any more (the quota is whole again). */
  resetMs: number;
  /** Milliseconds until at least one more unit is free (0 when remaining > 0). */
  freeMs: number;
}

export interface AcquireResult {
  /**
   * 0 = denied; otherwise need + speculative permits. With `partial`, possibly fewer than need (what fits, or, on a key
   * several isolates share, a capped share of it); the rest of the batch asks again when retryMs is 0, and is denied
   * when retryMs > 0 (nothing left). Speculative permits only come with all of need.
   */
  granted: number;
  /** Present when speculative permits were granted: give back the unused ones with this id. */
  leaseId?: string;
  /** Speculative permits must be used within ttlMs of sending the request. */
  ttlMs: number;
  /** When denied: milliseconds until `need` (1 with partial) would fit (no later than every denying limit's retry). */
  retryMs: number;
  limits: LimitView[];
}

/** The typed RPC surface of RateLimiterDO. */
export interface RateLimiterRpc {
  acquire(req: AcquireRequest): Promise<AcquireResult>;
  /** Gives back lease permits and reports fail-open admissions (`admitted`, dated relative to `sentAt`). */
  release(config: LimiterConfig, returns: LeaseReturn[], admitted?: AdmittedReport[]): Promise<void>;
}

/** A Durable Object namespace binding as far as the gate needs it (env.RATE_LIMITER). */
export interface RateLimiterNamespaceLike {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): RateLimiterRpc;
}

/** A policy prepared for the request path (one per policy and targeted rule). */
export interface CompiledPolicy {
  /** "namespace/name". */
  id: string;
  config: LimiterConfig;
  keys: RateLimitKey[];
  /** Network prefix lengths that turn CF-Connecting-IP into a ClientIP key part. */
  clientIP: ClientIPGrouping;
  missingKey: 'Deny' | 'FallbackToClientIP';
  failOpen: boolean;
  legacyHeaders: boolean;
  /** Structured-field names of the limits, e.g. "api" or "api/1s". */
  limitNames: string[];
  /** sectionName when the policy reached this rule through a targetRef naming it: counters are then per rule. */
  section?: string;
}

export interface PolicyIndex {
  forRule(routeKey: string, ruleName: string | undefined): CompiledPolicy[];
  readonly size: number;
}
