/** Rate limiting: the request-path gate, the Durable Object RPC contract and the per-isolate lease types. */
import type { RateLimitKey } from './schema.js';

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

export interface AcquireRequest {
  config: LimiterConfig;
  /** Permits the caller uses at once (1 per request). */
  need: number;
  /** Extra permits the isolate would like to hold as a lease (a hint; the object may grant fewer). */
  want: number;
  returns?: LeaseReturn[];
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
  /** 0 = denied; otherwise need + speculative permits. */
  granted: number;
  /** Present when speculative permits were granted: give back the unused ones with this id. */
  leaseId?: string;
  /** Speculative permits must be used within ttlMs of sending the request. */
  ttlMs: number;
  /** When denied: milliseconds until `need` would fit (no later than every denying limit's retry). */
  retryMs: number;
  limits: LimitView[];
}

/** The typed RPC surface of RateLimiterDO. */
export interface RateLimiterRpc {
  acquire(req: AcquireRequest): Promise<AcquireResult>;
  release(config: LimiterConfig, returns: LeaseReturn[]): Promise<void>;
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

export interface EnforceArgs {
  policies: CompiledPolicy[];
  request: Request;
  routeKey: string;
  ruleName?: string;
  namespace: RateLimiterNamespaceLike;
  ctx: { waitUntil(p: Promise<unknown>): void };
  now: number;
  log?: (line: object) => void;
  /** Limiter call budget before failOpen applies (default 50 ms). */
  timeoutMs?: number;
  /** Per-isolate lease table (default: one shared by the isolate). */
  leases?: import('./ratelimit/lease.js').LeaseTable;
}

export interface EnforceResult {
  denied?: Response;
  headers: [string, string][];
}

export { compilePolicies, enforce } from './ratelimit/gate.js';
