/** Per-isolate lease table: serves requests from small permit batches leased from RateLimiterDO, so a hot key does not make every request wait on one object. */
import type { AcquireRequest, AcquireResult, AdmittedReport, LeaseReturn, LimitView, LimiterConfig } from '../ratelimit.js';
import { MAX_SPEC } from './limiter.js';

interface Lease {
  id?: string;
  permits: number;
  lastUsedAt: number;
  /** Local clock; the lease is counted by the object until send time + ttl, so it must not be used later. */
  expiresAt: number;
}

/** A request waiting on the limiter for its key. */
interface Waiter {
  /** Its answer, set by whoever decides it; the request itself picks it up when it wakes (see acquire). */
  outcome?: TakeResult | LimiterUnavailable;
  /** The call that carries this request's permit, while it is in flight. */
  inCall?: Call;
  /** Let through by the gate after a timeout, while its call was in flight: the call's answer must count it. */
  admitted: boolean;
  admittedAt: number;
  /** Its call was given up (past the budget) but may still answer: that answer counts it if it is admitted. */
  givenUp?: Call;
}

interface Call {
  batch: Waiter[];
  /** Resolves when the answer is distributed, or when the call is given up (past the budget): waiters move on. */
  released: Promise<void>;
  /** Resolves (never rejects) once the call has settled and its answer is distributed. */
  settled: Promise<void>;
  /** Requests of the batch admitted after the call was given up: its answer (or failure, or the grace) counts them. */
  late: Waiter[];
  /** The answer, failure or grace period has been dealt with. */
  closed: boolean;
}

/**
 * How long a call given up at the budget may still answer for the requests admitted meanwhile; after that they are
 * reported as owed (counted twice if the answer comes later still, never not at all).
 */
const LATE_ANSWER_GRACE_MS = 10_000;

interface Entry {
  leases: Lease[];
  views: LimitView[];
  viewAt: number;
  deniedUntil: number;
  /** Speculative permits asked for: doubles while the key is hot, halves when a lease expires unused. */
  want: number;
  lastAcquire: number;
  ttl: number;
  /** The call in flight for this key: at most one per key and isolate, requests arriving meanwhile queue for the next. */
  inflight?: Call;
  /** Requests waiting for the next call: it asks for one permit each (a batch), so each is answered by the object. */
  queue: Waiter[];
  /** Most requests that queued behind one call: the next call leases at least that many for the ones after it. */
  demand: number;
  returns: LeaseReturn[];
  /** Requests admitted while failing open, not yet reported to the object: local time and count. */
  owed: { at: number; n: number }[];
  /** Longest window of the key's policy: an admission older than that no longer counts anywhere. */
  maxWindow: number;
  /** Calls sent and not settled, given-up ones included: reports wait for them (a late answer may cover them). */
  calls: number;
}

/**
 * The limiter did not answer for this request (it failed, or the budget ran out). When the gate lets the request
 * through anyway (failOpen), it calls admit() so the request is counted: with a leased permit if one is at hand,
 * by the answer of its call when that comes, or reported to the object with the next call.
 */
export class LimiterUnavailable extends Error {
  private done = false;
  constructor(
    message: string,
    private readonly onAdmit: () => void,
    /** The call this request was part of, still in flight: keep the request's context alive until it settles. */
    readonly pending?: Promise<void>,
  ) {
    super(message);
    this.name = 'LimiterUnavailable';
  }

  admit(): void {
    if (this.done) return;
    this.done = true;
    this.onAdmit();
  }
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
/** Gives lease permits back and reports fail-open admissions; a rejected promise keeps the admissions for later. */
export type Release = (returns: LeaseReturn[], admitted?: AdmittedReport[]) => void | Promise<unknown>;

const noop = () => {};

function maxWindowOf(config: LimiterConfig): number {
  let m = 0;
  for (const l of config.limits) m = Math.max(m, l.windowMs);
  return m;
}

/** How long the owed list may get: older entries merge into later ones (counted later, never earlier). */
const MAX_OWED = 64;

export class LeaseTable {
  private readonly entries = new Map<string, Entry>();
  private callerId: string | undefined;

  /**
   * `clock` is read only after waiting on the object: a permit is used then, later than the request's `now`, and
   * the object re-dates used permits to the time the lease says it last served one.
   */
  constructor(
    private readonly maxEntries = 10_000,
    private readonly clock: () => number = () => Date.now(),
    private readonly fixedId?: string,
  ) {}

  /** Random id sent with every call; drawn on first use (Workers allow no randomness at global scope). */
  get id(): string {
    return (this.callerId ??= this.fixedId ?? crypto.randomUUID());
  }

  get size(): number {
    return this.entries.size;
  }

  /** Local permits currently held for a key (tests and the bench read it). */
  held(name: string, now: number): number {
    const e = this.entries.get(name);
    return e ? e.leases.reduce((s, l) => s + (l.expiresAt > now ? l.permits : 0), 0) : 0;
  }

  /** Requests admitted while failing open that the object has not been told about yet (tests read it). */
  owed(name: string): number {
    return this.entries.get(name)?.owed.reduce((s, o) => s + o.n, 0) ?? 0;
  }

  private entry(name: string, config?: LimiterConfig): Entry {
    let e = this.entries.get(name);
    if (e) {
      // Re-insert: Map order doubles as LRU order for eviction.
      this.entries.delete(name);
    } else {
      e = {
        leases: [],
        views: [],
        viewAt: 0,
        deniedUntil: 0,
        want: 0,
        lastAcquire: -Infinity,
        ttl: 0,
        queue: [],
        demand: 0,
        returns: [],
        owed: [],
        maxWindow: 0,
        calls: 0,
      };
      while (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
      }
    }
    if (config && !e.maxWindow) e.maxWindow = maxWindowOf(config);
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

  /** Takes one local permit (it is already counted by the object), or none. */
  private takePermit(e: Entry, now: number): Lease | undefined {
    this.collect(e, now);
    const lease = e.leases.find((l) => l.permits > 0);
    if (!lease) return undefined;
    lease.permits--;
    lease.lastUsedAt = now;
    return lease;
  }

  /** Records a request admitted without the object; bounded, and what left every window is dropped. */
  private owe(e: Entry, at: number, n = 1): void {
    e.owed = e.owed.filter((o) => o.at + e.maxWindow > at);
    const last = e.owed.at(-1);
    if (last && last.at === at) last.n += n;
    else e.owed.push({ at, n });
    e.owed.sort((a, b) => a.at - b.at);
    while (e.owed.length > MAX_OWED) {
      const [a, b] = e.owed;
      e.owed.splice(0, 2, { at: b!.at, n: a!.n + b!.n });
    }
  }

  private takeOwed(e: Entry, now: number): { sent: Entry['owed']; reports: AdmittedReport[] } {
    const sent = e.owed;
    e.owed = [];
    return { sent, reports: sent.map((o) => ({ n: o.n, agoMs: Math.max(0, now - o.at) })) };
  }

  private giveBackOwed(e: Entry, sent: Entry['owed']): void {
    for (const o of sent) this.owe(e, o.at, o.n);
  }

  /**
   * Returns and fail-open admissions go out at once when no call will carry them: the object frees the lease cap,
   * re-dates used permits and counts what was let through without it.
   */
  private flush(e: Entry, release: Release, now: number): void {
    // Without a way to reach the object (tests, the bench), the next call carries them.
    if (release === noop || (!e.returns.length && !e.owed.length)) return;
    const returns = e.returns;
    e.returns = [];
    const { sent, reports } = this.takeOwed(e, now);
    let p: void | Promise<unknown>;
    try {
      p = release(returns, reports.length ? reports : undefined);
    } catch {
      p = Promise.reject(new Error('release failed'));
    }
    if (sent.length && p) p.then(undefined, () => this.giveBackOwed(e, sent));
  }

  /** A request let through by the gate after its limiter call failed or timed out: count it as soon as possible. */
  private admitNow(e: Entry, w: Waiter, release: Release): void {
    const at = Math.max(w.admittedAt, this.clock());
    if (this.takePermit(e, at)) return;
    this.owe(e, at);
    // A call in flight (or the next one) carries the report; with none, tell the object now.
    if (!e.calls && !e.queue.length) this.flush(e, release, at);
  }

  private local(e: Entry, config: LimiterConfig, now: number, release: Release): TakeResult | undefined {
    const lease = this.takePermit(e, now);
    if (lease) {
      this.flush(e, release, now);
      return { allowed: true, limits: this.view(e, now), retryMs: 0, refund: this.refunder(e, lease, lease.expiresAt) };
    }
    if (e.deniedUntil > now && !config.countDenied) {
      this.flush(e, release, now);
      return { allowed: false, limits: this.view(e, now), retryMs: e.deniedUntil - now, refund: noop };
    }
    return undefined;
  }

  /** The request-path fast path: a local lease permit or a cached denial, with no I/O. undefined = ask the object. */
  tryLocal(name: string, config: LimiterConfig, now: number, release: Release = noop): TakeResult | undefined {
    return this.local(this.entry(name, config), config, now, release);
  }

  private answer(e: Entry, w: Waiter, r: TakeResult | LimiterUnavailable): void {
    if (w.outcome) return;
    w.outcome = r;
    const i = e.queue.indexOf(w);
    if (i >= 0) e.queue.splice(i, 1);
  }

  private unavailable(e: Entry, w: Waiter, message: string, release: Release): LimiterUnavailable {
    return new LimiterUnavailable(
      message,
      () => {
        w.admittedAt = this.clock();
        // Its call is still out (or was given up but may answer late): that answer counts it; otherwise it is owed.
        if (w.inCall) w.admitted = true;
        else if (w.givenUp && !w.givenUp.closed) {
          w.admitted = true;
          w.givenUp.late.push(w);
        } else this.admitNow(e, w, release);
      },
      w.inCall?.settled,
    );
  }

  /**
   * Asks the object for a permit. Requests that find a call in flight for their key queue behind it and go together
   * in the next call, one permit each (`partial`: the object grants what fits, the rest is denied or, on a key other
   * isolates use too, asks again), so a burst at a cold key costs two round trips and is counted exactly. Never a second call alongside the one in flight: every
   * parallel call carries permits that the object counts while they are still on their way here.
   *
   * `budgetMs` bounds the whole wait (queue and call); past it, or when the call fails, the request gets a
   * LimiterUnavailable and the gate's failOpen decides. A call still out after the budget is given up: the next
   * request may start another one.
   */
  async acquire(
    name: string,
    config: LimiterConfig,
    now: number,
    acquire: Acquire,
    release: Release = noop,
    budgetMs = Infinity,
  ): Promise<TakeResult> {
    const e = this.entry(name, config);
    const w: Waiter = { admitted: false, admittedAt: now };
    e.queue.push(w);
    // Workers tie promises and timers to the request that made them: a waiting request only ever waits on promises
    // made by the request whose call it waits for, or by itself, and reads its answer from `w` when it wakes. Nothing
    // is resolved on its behalf from another request.
    let timer: ReturnType<typeof setTimeout> | undefined;
    let expired = false;
    const deadline = Number.isFinite(budgetMs)
      ? new Promise<void>((r) => (timer = setTimeout(() => ((expired = true), r()), budgetMs)))
      : undefined;
    let waited = false;
    try {
      while (!w.outcome) {
        const call = w.inCall ?? e.inflight;
        if (!call) {
          // Still queued and nothing in flight: this request sends the batch (itself and everyone queued).
          const sent = this.send(e, config, waited ? Math.max(now, this.clock()) : now, acquire, release, budgetMs);
          await (deadline ? Promise.race([sent, deadline]) : sent);
        } else {
          await (deadline ? Promise.race([call.released, deadline]) : call.released);
          waited = true;
        }
        if (w.outcome) break;
        if (expired) {
          this.answer(e, w, this.unavailable(e, w, `rate limiter did not answer within ${budgetMs} ms`, release));
          break;
        }
        if (w.inCall) continue;
        // The call just answered may have left a lease or a denial that covers this request.
        const local = this.local(e, config, Math.max(now, this.clock()), release);
        if (local) this.answer(e, w, local);
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    const out = w.outcome as TakeResult | LimiterUnavailable;
    if (out instanceof LimiterUnavailable) throw out;
    return out;
  }

  private async send(e: Entry, config: LimiterConfig, now: number, acquire: Acquire, release: Release, budgetMs: number): Promise<void> {
    const batch = e.queue.filter((w) => !w.outcome);
    e.queue = [];
    if (!batch.length) return;
    let releaseWaiters = noop;
    let settle = noop;
    const call: Call = {
      batch,
      late: [],
      closed: false,
      released: new Promise<void>((r) => (releaseWaiters = r)),
      settled: new Promise<void>((r) => (settle = r)),
    };
    for (const w of batch) w.inCall = call;
    e.inflight = call;
    e.calls++;
    e.maxWindow = maxWindowOf(config);
    // Hot when the previous batch ran out within one lease lifetime: ask for more next time.
    if (now - e.lastAcquire < e.ttl) e.want = Math.min(MAX_SPEC, Math.max(1, e.want * 2));
    e.lastAcquire = now;
    const want = Math.min(MAX_SPEC, Math.max(e.want, e.demand));
    e.demand = 0;
    const returns = e.returns;
    e.returns = [];
    const { sent, reports } = this.takeOwed(e, now);
    let giveUp: ReturnType<typeof setTimeout> | undefined;
    let grace: ReturnType<typeof setTimeout> | undefined;
    if (Number.isFinite(budgetMs)) {
      giveUp = setTimeout(() => {
        // Every request of the batch has had its answer (its own budget ended no later); let the queue move on.
        if (e.inflight === call) e.inflight = undefined;
        const still: Waiter[] = [];
        for (const w of batch) {
          if (w.inCall !== call) continue;
          w.inCall = undefined;
          if (w.outcome) w.givenUp = call;
          else still.push(w);
          if (w.admitted) call.late.push(w);
        }
        e.queue.unshift(...still);
        grace = setTimeout(() => this.closeLate(e, call, 0), LATE_ANSWER_GRACE_MS);
        releaseWaiters();
      }, budgetMs);
    }
    const req: AcquireRequest = {
      config,
      need: batch.length,
      ...(batch.length > 1 ? { partial: true } : {}),
      caller: this.id,
      want,
      sentAt: now,
      ...(returns.length ? { returns } : {}),
      ...(reports.length ? { admitted: reports } : {}),
    };
    let answered = false;
    try {
      const res = await acquire(req);
      this.distribute(e, config, call, res, now);
      answered = true;
    } catch (err) {
      // Returns are idempotent at the object and the admissions are counted at most once more: both go again later.
      e.returns.unshift(...returns);
      this.giveBackOwed(e, sent);
      this.closeLate(e, call, 0);
      const message = String(err instanceof Error ? err.message : err).slice(0, 200);
      for (const w of batch) {
        if (w.inCall !== call) continue;
        w.inCall = undefined;
        if (w.admitted) this.owe(e, Math.max(w.admittedAt, this.clock()));
        else this.answer(e, w, this.unavailable(e, w, message, release));
      }
    } finally {
      if (giveUp !== undefined) clearTimeout(giveUp);
      if (grace !== undefined) clearTimeout(grace);
      if (e.inflight === call) e.inflight = undefined;
      e.calls--;
      // No call left to carry the reports and nobody queued for one: send them now (not after a failure).
      if (answered && !e.calls && !e.queue.length) this.flush(e, release, Math.max(now, this.clock()));
      e.demand = Math.max(e.demand, e.queue.length);
      releaseWaiters();
      settle();
    }
  }

  /**
   * Shares one answer out: requests already let through (failOpen after their budget) are counted first, since their
   * quota is gone whatever happens; then the waiting ones in arrival order; permits left over (their request gave up)
   * stay as a local lease for the next requests.
   */
  private distribute(e: Entry, config: LimiterConfig, call: Call, res: AcquireResult, now: number): void {
    const members = call.batch.filter((w) => w.inCall === call);
    for (const w of members) w.inCall = undefined;
    e.views = res.limits;
    e.viewAt = now;
    e.ttl = res.ttlMs;
    const need = call.batch.length;
    const served = Math.max(0, Math.min(res.granted, need));
    let permits = served;
    const spec = Math.max(0, res.granted - need);
    const expiresAt = now + res.ttlMs;
    for (const w of members) {
      if (!w.admitted) continue;
      if (permits > 0) permits--;
      else this.owe(e, Math.max(w.admittedAt, this.clock()));
    }
    // A call given up that answers after all: its permits cover the requests admitted meanwhile.
    permits = this.closeLate(e, call, permits);
    // Fewer than asked: with retryMs the rest is denied; without, the object handed out half of what is left and the
    // rest goes in the next call.
    const deny = served < need && res.retryMs > 0;
    if (deny) {
      if (!config.countDenied) e.deniedUntil = now + res.retryMs;
    } else if (served === need) e.deniedUntil = 0;
    let lease: Lease | undefined;
    if (spec > 0) {
      lease = { ...(res.leaseId ? { id: res.leaseId } : {}), permits: spec, lastUsedAt: Math.max(now, this.clock()), expiresAt };
      e.leases.push(lease);
    }
    const allowed: Waiter[] = [];
    const rest: Waiter[] = [];
    for (const w of members) {
      if (w.outcome) continue;
      if (permits > 0) {
        permits--;
        allowed.push(w);
      } else rest.push(w);
    }
    if (permits > 0) e.leases.push({ permits, lastUsedAt: now, expiresAt });
    const limits = this.view(e, now);
    // Allowed answers go out first: no client sees a denial before the permits granted alongside it.
    for (const w of allowed) this.answer(e, w, { allowed: true, limits, retryMs: 0, refund: this.refunder(e, lease, expiresAt) });
    if (deny) for (const w of rest) this.answer(e, w, { allowed: false, limits, retryMs: res.retryMs, refund: noop });
    else e.queue.unshift(...rest);
  }

  /** Counts the requests admitted after their call was given up: with its permits, the rest as owed. */
  private closeLate(e: Entry, call: Call, permits: number): number {
    if (call.closed) return permits;
    call.closed = true;
    for (const w of call.late) {
      if (permits > 0) permits--;
      else this.owe(e, Math.max(w.admittedAt, this.clock()));
    }
    call.late = [];
    return permits;
  }

  async take(
    name: string,
    config: LimiterConfig,
    now: number,
    acquire: Acquire,
    release: Release = noop,
    budgetMs = Infinity,
  ): Promise<TakeResult> {
    return this.tryLocal(name, config, now, release) ?? this.acquire(name, config, now, acquire, release, budgetMs);
  }
}
