/** The counting core of RateLimiterDO: several limits at once, leases, returns and idleness, with the clock as a parameter. */
import type { AcquireRequest, AcquireResult, AdmittedReport, LeaseReturn, LimitView, LimiterConfig } from '../ratelimit.js';
import { SlidingLog, TokenBucket } from './window.js';

/** Speculative (leased, not yet used) permits never exceed this share of the smallest limit. */
export const SPEC_FRACTION = 0.05;
/**
 * Most speculative permits in one grant. SPEC_FRACTION and "half of what is left" bound speculation near a limit;
 * this only caps the batch of a key far from its limit, where a bigger lease means fewer object calls (each a billed
 * Durable Object request and a round trip): 1024 lets a hot key at a few thousand requests per second per isolate
 * call about every third of a second instead of about 13 times a second at 256.
 */
export const MAX_SPEC = 1024;

/** Lease lifetime: short against the window so that late use of a lease distorts counts by little. */
export const leaseTtlMs = (config: LimiterConfig) =>
  Math.min(1000, Math.max(50, Math.floor(Math.min(...config.limits.map((l) => l.windowMs)) / 50)));

export const fingerprint = (c: LimiterConfig) =>
  `${c.algorithm}|${c.countDenied ? 1 : 0}|${c.limits.map((l) => `${l.requests}/${l.windowMs}`).join(',')}`;

interface LeaseRecord {
  /** Speculative permits still possibly unused. */
  n: number;
  /** Grant time. */
  g: number;
  /** When they were counted (sliding: grant time + ttl). */
  at: number;
}

/** Persisted form (the sliding logs are persisted row by row, see durable-object.ts). */
export interface CoreMeta {
  fp: string;
  config: LimiterConfig;
  seq: number;
  buckets: ({ tokens: number; at: number } | null)[];
  leases: [string, number, number, number][];
}

export class LimiterCore {
  readonly fp: string;
  readonly ttl: number;
  readonly logs: (SlidingLog | null)[];
  readonly buckets: (TokenBucket | null)[];
  readonly leases = new Map<string, LeaseRecord>();
  /** Isolates seen recently (caller id -> last call): batches are only capped when several share the key. */
  private readonly callers = new Map<string, number>();
  /** Batch permits beyond the first, granted to a key shared by several isolates: capped like leases while fresh. */
  private batchExtras: { n: number; until: number }[] = [];
  private seq = 0;
  private readonly minLimit: number;
  private readonly maxWindow: number;

  constructor(readonly config: LimiterConfig) {
    this.fp = fingerprint(config);
    this.ttl = leaseTtlMs(config);
    const sliding = config.algorithm === 'SlidingWindow';
    this.logs = config.limits.map((l) => (sliding ? new SlidingLog(l.windowMs) : null));
    this.buckets = config.limits.map((l) => (sliding ? null : new TokenBucket(l.requests, l.windowMs)));
    this.minLimit = Math.min(...config.limits.map((l) => l.requests));
    this.maxWindow = Math.max(...config.limits.map((l) => l.windowMs));
  }

  private advance(now: number): void {
    for (const log of this.logs) log?.prune(now);
    for (const b of this.buckets) b?.refill(now);
    // A lease no longer matters once what it counted has left every window.
    for (const [id, rec] of this.leases) if (rec.at + this.maxWindow + 1 <= now) this.leases.delete(id);
    if (this.batchExtras.length) this.batchExtras = this.batchExtras.filter((b) => b.until > now);
  }

  /** Whether an isolate other than `caller` called within the longest window (unknown callers count as others). */
  private shared(caller: string | undefined, now: number): boolean {
    let others = caller === undefined;
    for (const [c, at] of this.callers) {
      if (at + this.maxWindow <= now) this.callers.delete(c);
      else if (c !== caller) others = true;
    }
    if (caller !== undefined) {
      this.callers.delete(caller);
      this.callers.set(caller, now);
      // Two are enough to know the key is shared: keep the map small.
      while (this.callers.size > 8) this.callers.delete(this.callers.keys().next().value as string);
    }
    return others;
  }

  /** Leased permits counted in a bucket after s: the lease may be used at any time before its date, so it counts at s too. */
  private leasedAfter(log: SlidingLog, s: number): number {
    let k = 0;
    for (const rec of this.leases.values()) if (log.bucketOf(rec.at) > s) k += rec.n;
    return k;
  }

  /**
   * Most counted in any window that a permit used at t falls in: the window ending at t and those ending at each later
   * date (permits on their way to a caller). Summing everything dated after t - window instead would put permits that
   * leave the window before the later ones arrive in the same window as them, and deny while the quota is not used up.
   */
  private peak(log: SlidingLog, t: number): number {
    let m = log.windowCount(t) + this.leasedAfter(log, t);
    for (const s of log.datesAfter(t)) m = Math.max(m, log.windowCount(s) + this.leasedAfter(log, s));
    return m;
  }

  /** Milliseconds after t until `cost` more fit under limit i. */
  private retryMs(i: number, t: number, cost: number): number {
    const log = this.logs[i];
    const limit = this.config.limits[i]!.requests;
    if (!log) return this.buckets[i]!.retryMs(cost);
    if (cost > limit) return Infinity;
    if (this.peak(log, t) + cost <= limit) return 0;
    // The peak falls only when a bucket expires; after the last future date it is the plain count, which retryMs knows.
    const last = log.at.at(-1) ?? t;
    for (let j = 0; j < log.at.length && log.expiryOf(j) <= last; j++) {
      const v = log.expiryOf(j);
      if (v > t && this.peak(log, v) + cost <= limit) return v - t;
    }
    return Math.max(last - t, log.retryMs(t, cost, limit));
  }

  /** Quota left for a permit used at time t. */
  private remaining(i: number, t: number): number {
    const log = this.logs[i];
    return log ? Math.max(0, this.config.limits[i]!.requests - this.peak(log, t)) : this.buckets[i]!.remaining;
  }

  private count(k: number, at: number): void {
    for (const log of this.logs) log?.add(at, k);
    for (const b of this.buckets) b?.take(k);
  }

  /** The limits as seen at time t (call after advance to a time <= t). */
  views(t: number): LimitView[] {
    return this.config.limits.map((l, i) => {
      const log = this.logs[i];
      const b = this.buckets[i];
      const remaining = this.remaining(i, t);
      return {
        requests: l.requests,
        windowMs: l.windowMs,
        remaining,
        resetMs: log ? log.fullResetMs(t) : b!.fullResetMs(),
        freeMs: remaining > 0 ? 0 : this.retryMs(i, t, 1),
      };
    });
  }

  private applyReturns(returns: LeaseReturn[] | undefined, now: number): void {
    for (const r of returns ?? []) {
      const rec = this.leases.get(r.leaseId);
      if (!rec) continue;
      this.leases.delete(r.leaseId);
      const k = Math.max(0, Math.min(Math.floor(r.unused), rec.n));
      for (const log of this.logs) {
        if (!log) continue;
        log.remove(rec.at, k);
        // The used ones were used before this return was sent (at lastUsedAt when the caller says so): re-date them,
        // so a hot key's quota is not held longer than its real use.
        const usedAt = Math.max(rec.g, Math.min(now, r.lastUsedAt ?? now));
        if (usedAt < rec.at) log.add(usedAt, log.remove(rec.at, rec.n - k));
      }
      for (const b of this.buckets) b?.give(k);
    }
  }

  /**
   * Requests admitted by a caller while it could not reach the object (failOpen) count at the time they were let
   * through, over the limit if need be: the quota they took is gone either way, and later requests wait for it.
   */
  private applyAdmitted(admitted: AdmittedReport[] | undefined, now: number): void {
    for (const a of admitted ?? []) {
      const n = Math.floor(a.n);
      if (!(n > 0)) continue;
      const at = now - Math.max(0, Math.floor(a.agoMs) || 0);
      if (at + this.maxWindow <= now) continue;
      for (const log of this.logs) log?.add(at, n);
      for (const b of this.buckets) b?.take(n);
    }
  }

  release(returns: LeaseReturn[], now: number, admitted?: AdmittedReport[]): void {
    this.advance(now);
    this.applyReturns(returns, now);
    this.applyAdmitted(admitted, now);
  }

  /** Permits that may still go out speculatively: SPEC_FRACTION of the smallest limit, less leases and fresh batch extras. */
  private specRoom(): number {
    let extras = 0;
    for (const b of this.batchExtras) extras += b.n;
    return Math.max(0, Math.floor(SPEC_FRACTION * this.minLimit) - this.outstanding - extras);
  }

  get outstanding(): number {
    let s = 0;
    for (const rec of this.leases.values()) s += rec.n;
    return s;
  }

  acquire(req: AcquireRequest, now: number): AcquireResult {
    this.advance(now);
    this.applyReturns(req.returns, now);
    this.applyAdmitted(req.admitted, now);
    const need = Math.max(1, Math.floor(req.need));
    // The caller uses its permit when the answer arrives, about one more one-way trip (now - sentAt) from now:
    // decide and count at that time, so windows are exact at the gateway, not at the object.
    const useAt = req.sentAt === undefined ? now : now + Math.min(this.ttl, Math.max(0, now - req.sentAt));
    let min = Infinity;
    for (let i = 0; i < this.config.limits.length; i++) min = Math.min(min, this.remaining(i, useAt));
    // A batch (partial) answers one waiting request per permit. From the only isolate using the key it takes all that
    // fits: nobody else can be denied while its permits are on their way, and a burst at a cold key costs two round
    // trips. When isolates share the key, the permits beyond the first are capped like leases (half of what is left
    // and SPEC_FRACTION of the limit in flight), so near the limit few are ever on their way to one isolate while
    // another is denied. The rest of the batch asks again (retryMs 0) unless nothing is left, when it is denied.
    const shared = this.shared(req.caller, now);
    let fits: number;
    if (!req.partial) fits = min >= need ? need : 0;
    else if (min < 1) fits = 0;
    else if (!shared) fits = Math.min(need, min);
    else fits = 1 + Math.max(0, Math.min(need - 1, Math.floor((min - 1) / 2), this.specRoom()));
    if (req.partial && fits > 1) this.batchExtras.push({ n: fits - 1, until: now + this.ttl });
    if (fits < need) {
      const cost = req.partial ? 1 : need;
      this.count(fits, useAt);
      let retryMs = 0;
      this.config.limits.forEach((_l, i) => {
        if (this.remaining(i, useAt) >= cost) return;
        retryMs = Math.max(retryMs, this.retryMs(i, useAt, cost));
      });
      if (this.config.countDenied && retryMs > 0) this.count(need - fits, useAt);
      return { granted: fits, ttlMs: this.ttl, retryMs, limits: this.views(useAt) };
    }
    // Lease size adapts to what is left: at most half of the remaining budget, and a global cap on speculation,
    // so near the limit every isolate gets exactly what it uses.
    const spec = Math.max(0, Math.min(Math.floor(req.want), MAX_SPEC, Math.floor((min - need) / 2), this.specRoom()));
    this.count(need, useAt);
    let leaseId: string | undefined;
    if (spec > 0) {
      // Counted at the end of the lease, the latest time it may be used, and by peak() in every window before that too,
      // so no window ever sees more than the limit wherever the caller uses it.
      const at = now + this.ttl;
      for (const log of this.logs) log?.add(at, spec);
      for (const b of this.buckets) b?.take(spec);
      leaseId = `${++this.seq}`;
      this.leases.set(leaseId, { n: spec, g: now, at });
    }
    return { granted: need + spec, ...(leaseId ? { leaseId } : {}), ttlMs: this.ttl, retryMs: 0, limits: this.views(useAt) };
  }

  /** Time from which nothing is counted: the object may delete its storage then. */
  idleAt(now: number): number {
    let t = now;
    this.logs.forEach((log) => {
      if (log) t = Math.max(t, now + log.fullResetMs(now));
    });
    this.buckets.forEach((b) => {
      if (b) t = Math.max(t, Math.max(b.at, now) + b.fullResetMs());
    });
    for (const rec of this.leases.values()) t = Math.max(t, rec.at + this.maxWindow + 1);
    return t;
  }

  isIdle(now: number): boolean {
    this.advance(now);
    return this.idleAt(now) <= now;
  }

  meta(): CoreMeta {
    return {
      fp: this.fp,
      config: this.config,
      seq: this.seq,
      buckets: this.buckets.map((b) => (b ? { tokens: b.tokens, at: b.at } : null)),
      leases: [...this.leases].map(([id, r]) => [id, r.n, r.g, r.at]),
    };
  }

  /** Restores persisted state; rows are the sliding-log buckets (limit index, bucket start, count). */
  static restore(meta: CoreMeta, rows: Iterable<{ li: number; at: number; n: number }>): LimiterCore {
    const core = new LimiterCore(meta.config);
    core.seq = meta.seq;
    meta.buckets.forEach((b, i) => {
      const tb = core.buckets[i];
      if (b && tb) {
        tb.tokens = b.tokens;
        tb.at = b.at;
      }
    });
    for (const [id, n, g, at] of meta.leases) core.leases.set(id, { n, g, at });
    for (const r of rows) core.logs[r.li]?.add(r.at, r.n);
    for (const log of core.logs) if (log) log.dirty.clear();
    return core;
  }
}
