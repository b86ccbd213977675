/** Exact sliding-window log and token bucket: the per-limit arithmetic, pure (the clock is a parameter). */

/**
 * Bucket width of the sliding log. 1 ms (exact) for windows up to 10 s; longer windows keep at most ~10,000 buckets,
 * which bounds memory and means a request may be denied at most `granularity` ms early — never allowed early.
 */
export const granularity = (windowMs: number) => Math.max(1, Math.ceil(windowMs / 10_000));

/** Counts per time bucket, sorted by bucket start. A request counted at time t stays counted for (t, t + windowMs]. */
export class SlidingLog {
  readonly g: number;
  at: number[] = [];
  n: number[] = [];
  total = 0;
  /** Buckets changed since the last flush (the Durable Object persists them). */
  dirty = new Set<number>();
  /** Highest bucket start dropped by prune since the last flush. */
  prunedThrough = -Infinity;

  constructor(readonly windowMs: number) {
    this.g = granularity(windowMs);
  }

  /** First time at which bucket i no longer counts. */
  expiryOf(i: number): number {
    return this.at[i]! + this.g - 1 + this.windowMs;
  }

  prune(now: number): void {
    let i = 0;
    while (i < this.at.length && this.expiryOf(i) <= now) {
      this.total -= this.n[i]!;
      i++;
    }
    if (i > 0) {
      this.prunedThrough = Math.max(this.prunedThrough, this.at[i - 1]!);
      for (let j = 0; j < i; j++) this.dirty.delete(this.at[j]!);
      this.at.splice(0, i);
      this.n.splice(0, i);
    }
  }

  /** Count as it will be at time t (t >= the last prune), without dropping anything. */
  countAt(t: number): number {
    let c = this.total;
    for (let i = 0; i < this.at.length && this.expiryOf(i) <= t; i++) c -= this.n[i]!;
    return c;
  }

  private index(b: number): number {
    let lo = 0;
    let hi = this.at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.at[mid]! < b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(t: number, k: number): void {
    if (k <= 0) return;
    const b = Math.floor(t / this.g) * this.g;
    const i = this.index(b);
    if (this.at[i] === b) this.n[i]! += k;
    else {
      this.at.splice(i, 0, b);
      this.n.splice(i, 0, k);
    }
    this.total += k;
    this.dirty.add(b);
  }

  /** Takes back up to k counted at time t (a returned lease); returns how many were removed. */
  remove(t: number, k: number): number {
    const b = Math.floor(t / this.g) * this.g;
    const i = this.index(b);
    if (this.at[i] !== b || k <= 0) return 0;
    const m = Math.min(k, this.n[i]!);
    this.n[i]! -= m;
    this.total -= m;
    if (this.n[i] === 0) {
      this.at.splice(i, 1);
      this.n.splice(i, 1);
    }
    this.dirty.add(b);
    return m;
  }

  /** Milliseconds after t until `cost` more would fit under `limit` (0 = at t). t may be later than the last prune. */
  retryMs(now: number, cost: number, limit: number): number {
    const need = this.total + cost - limit;
    if (need <= 0) return 0;
    let acc = 0;
    for (let i = 0; i < this.at.length; i++) {
      acc += this.n[i]!;
      if (acc >= need) return Math.max(0, this.expiryOf(i) - now);
    }
    return Infinity;
  }

  /** Milliseconds until nothing is counted any more. */
  fullResetMs(now: number): number {
    return this.at.length ? Math.max(0, this.expiryOf(this.at.length - 1) - now) : 0;
  }

  /** Milliseconds until the oldest counted request leaves the window. */
  freeMs(now: number): number {
    return this.at.length ? Math.max(0, this.expiryOf(0) - now) : 0;
  }

  /** Start of the bucket a request at t is counted in. */
  bucketOf(t: number): number {
    return Math.floor(t / this.g) * this.g;
  }

  /**
   * Count in the window that ends at s: buckets started by s and not yet expired at s. Unlike countAt, buckets dated
   * after s (permits still on their way to a caller) are left out. Scans only the ends: what expires soon, what is ahead.
   */
  windowCount(s: number): number {
    let c = this.total;
    for (let i = 0; i < this.at.length && this.expiryOf(i) <= s; i++) c -= this.n[i]!;
    for (let i = this.at.length - 1; i >= 0 && this.at[i]! > s; i--) c -= this.n[i]!;
    return c;
  }

  /** Bucket starts after t, ascending. */
  datesAfter(t: number): number[] {
    let i = this.at.length;
    while (i > 0 && this.at[i - 1]! > t) i--;
    return this.at.slice(i);
  }

  count(t: number): number {
    const b = Math.floor(t / this.g) * this.g;
    const i = this.index(b);
    return this.at[i] === b ? this.n[i]! : 0;
  }
}

const EPS = 1e-9;

/** Token bucket of capacity `limit`, refilled continuously at limit/windowMs tokens per ms. */
export class TokenBucket {
  constructor(
    readonly limit: number,
    readonly windowMs: number,
    public tokens = limit,
    public at = 0,
  ) {}

  refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.limit, this.tokens + ((now - this.at) * this.limit) / this.windowMs);
      this.at = now;
    }
  }

  get remaining(): number {
    return Math.max(0, Math.floor(this.tokens + EPS));
  }

  take(k: number): void {
    // A negative balance (countDenied) is bounded to one window of refill.
    this.tokens = Math.max(-this.limit, this.tokens - k);
  }

  give(k: number): void {
    this.tokens = Math.min(this.limit, this.tokens + k);
  }

  /** Milliseconds until `cost` tokens are available. Call after refill(now). */
  retryMs(cost: number): number {
    if (cost > this.limit) return Infinity;
    return this.tokens + EPS >= cost ? 0 : Math.ceil(((cost - this.tokens) * this.windowMs) / this.limit);
  }

  fullResetMs(): number {
    return this.tokens + EPS >= this.limit ? 0 : Math.ceil(((this.limit - this.tokens) * this.windowMs) / this.limit);
  }

  freeMs(): number {
    const frac = this.tokens - Math.floor(this.tokens + EPS);
    return Math.ceil(((1 - Math.max(0, frac)) * this.windowMs) / this.limit);
  }
}
