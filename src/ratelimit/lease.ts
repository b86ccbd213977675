/** Per-isolate lease table: serves requests from small permit batches leased from RateLimiterDO, so a hot key does not make every request wait on one object. */
import type { AcquireRequest, AcquireResult, LeaseReturn, LimitView, LimiterConfig } from '../ratelimit.js';
import { MAX_SPEC } from './limiter.js';

interface Lease {
  id?: string;
  permits: number;
  lastUsedAt: number;
  /** Local clock; the lease is counted by the object until send time + ttl, so it must not be used later. */
  expiresAt: number;
}

interface Entry {
  leases: Lease[];
  views: LimitView[];
  viewAt: number;
  deniedUntil: number;
  /** Speculative permits asked for: doubles while the key is hot, halves when a lease expires unused. */
  want: number;
  lastAcquire: number;
  ttl: number;
  /** The call in flight for this key: concurrent requests wait for it instead of each calling the object. */
  inflight?: Promise<void>;
  waiting: number;
  /** Most requests that waited on one call: the next call asks for at least that many. */
  demand: number;
  returns: LeaseReturn[];
}

export interface TakeResult {
  allowed: boolean;
  /** Limits as this client sees them after the decision (local lease permits counted as remaining). */
  limits: LimitView[];
  /** When denied: milliseconds until a retry may succeed. */
  retryMs: number;
  /** Puts the permit back (another policy denied the request, so nothing must be counted). */
  refund(now: number): void;
}

export type Acquire = (req: AcquireRequest) => Promise<AcquireResult>;
export type Release = (returns: LeaseReturn[]) => void;

const noop = () => {};

export class LeaseTable {
  private readonly entries = new Map<string, Entry>();

  /**
   * `clock` is read only after waiting on the object: a permit is used then, later than the request's `now`, and
   * the object re-dates used permits to the time the lease says it last served one.
   */
  constructor(
    private readonly maxEntries = 10_000,
    private readonly clock: () => number = () => Date.now(),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Local permits currently held for a key (tests and the bench read it). */
  held(name: string, now: number): number {
    const e = this.entries.get(name);
    return e ? e.leases.reduce((s, l) => s + (l.expiresAt > now ? l.permits : 0), 0) : 0;
  }

  private entry(name: string): Entry {
    let e = this.entries.get(name);
    if (e) {
      // Re-insert: Map order doubles as LRU order for eviction.
      this.entries.delete(name);
    } else {
      e = { leases: [], views: [], viewAt: 0, deniedUntil: 0, want: 0, lastAcquire: -Infinity, ttl: 0, waiting: 0, demand: 0, returns: [] };
      while (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
      }
    }
    this.entries.set(name, e);
    return e;
  }

  private collect(e: Entry, now: number): void {
    if (!e.leases.some((l) => l.expiresAt <= now || l.permits === 0)) return;
    const keep: Lease[] = [];
    for (const l of e.leases) {
      if (l.expiresAt > now && l.permits > 0) keep.push(l);
      else {
        if (l.id) e.returns.push({ leaseId: l.id, unused: l.expiresAt > now ? 0 : l.permits, lastUsedAt: l.lastUsedAt });
        if (l.expiresAt <= now && l.permits > 0) e.want = Math.floor(e.want / 2);
      }
    }
    e.leases = keep;
  }

  private view(e: Entry, now: number): LimitView[] {
    const local = e.leases.reduce((s, l) => s + l.permits, 0);
    const dt = Math.max(0, now - e.viewAt);
    return e.views.map((v) => {
      const remaining = v.remaining + local;
      return {
        ...v,
        remaining,
        resetMs: Math.max(0, v.resetMs - dt),
        freeMs: remaining > 0 ? 0 : Math.max(0, (v.freeMs || v.resetMs) - dt),
      };
    });
  }

  private refunder(e: Entry, lease: Lease | undefined, expiresAt: number): (now: number) => void {
    return (now: number) => {
      if (now >= expiresAt) return;
      if (lease && e.leases.includes(lease)) lease.permits++;
      else e.leases.push({ permits: 1, lastUsedAt: now, expiresAt });
    };
  }

  /** Returns go back at once when no acquire will carry them: the object frees the lease cap and re-dates used permits. */
  private flush(e: Entry, release: Release): void {
    if (!e.returns.length) return;
    release(e.returns);
    e.returns = [];
  }

  /** The request-path fast path: a local lease permit or a cached denial, with no I/O. undefined = ask the object. */
  tryLocal(name: string, config: LimiterConfig, now: number, release: Release = noop): TakeResult | undefined {
    const e = this.entry(name);
    this.collect(e, now);
    const lease = e.leases.find((l) => l.permits > 0);
    if (lease) {
      lease.permits--;
      lease.lastUsedAt = now;
      this.flush(e, release);
      return { allowed: true, limits: this.view(e, now), retryMs: 0, refund: this.refunder(e, lease, lease.expiresAt) };
    }
    if (e.deniedUntil > now && !config.countDenied) {
      this.flush(e, release);
      return { allowed: false, limits: this.view(e, now), retryMs: e.deniedUntil - now, refund: noop };
    }
    return undefined;
  }

  /** Asks the object for a permit (plus a lease when the key is hot), carrying back expired leases. */
  async acquire(name: string, config: LimiterConfig, now: number, acquire: Acquire, release: Release = noop): Promise<TakeResult> {
    const e = this.entry(name);
    // Coalesce: one call per key and isolate at a time; the others share what it brings back. Never give up and call
    // alongside it: every parallel call carries a permit that the object counts while it is still on its way here, so
    // a slow isolate with many waiters would hold a share of the limit that no client has been served yet.
    while (e.inflight) {
      e.waiting++;
      e.demand = Math.max(e.demand, e.waiting);
      try {
        await e.inflight;
      } finally {
        e.waiting--;
      }
      now = Math.max(now, this.clock());
      const local = this.tryLocal(name, config, now, release);
      if (local) return local;
    }
    let done = noop;
    const inflight = new Promise<void>((resolve) => (done = resolve));
    e.inflight = inflight;
    try {
      return await this.call(e, config, now, acquire);
    } finally {
      if (e.inflight === inflight) e.inflight = undefined;
      done();
    }
  }

  private async call(e: Entry, config: LimiterConfig, now: number, acquire: Acquire): Promise<TakeResult> {
    // Hot when the previous batch ran out within one lease lifetime: ask for more next time.
    if (now - e.lastAcquire < e.ttl) e.want = Math.min(MAX_SPEC, Math.max(1, e.want * 2));
    e.lastAcquire = now;
    const want = Math.min(MAX_SPEC, Math.max(e.want, e.demand));
    e.demand = 0;
    const returns = e.returns;
    e.returns = [];
    const res = await acquire({ config, need: 1, want, sentAt: now, ...(returns.length ? { returns } : {}) });
    e.views = res.limits;
    e.viewAt = now;
    e.ttl = res.ttlMs;
    if (res.granted <= 0) {
      if (!config.countDenied) e.deniedUntil = now + res.retryMs;
      return { allowed: false, limits: this.view(e, now), retryMs: res.retryMs, refund: noop };
    }
    e.deniedUntil = 0;
    const expiresAt = now + res.ttlMs;
    let mine: Lease | undefined;
    if (res.granted > 1) {
      mine = { ...(res.leaseId ? { id: res.leaseId } : {}), permits: res.granted - 1, lastUsedAt: Math.max(now, this.clock()), expiresAt };
      e.leases.push(mine);
    }
    return { allowed: true, limits: this.view(e, now), retryMs: 0, refund: this.refunder(e, mine, expiresAt) };
  }

  async take(name: string, config: LimiterConfig, now: number, acquire: Acquire, release: Release = noop): Promise<TakeResult> {
    return this.tryLocal(name, config, now, release) ?? this.acquire(name, config, now, acquire, release);
  }
}
