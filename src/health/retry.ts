/** Retry budget (retries are at most a fraction of recent requests) and full-jitter backoff. */
import type { RetryBudgetView } from '../health.js';

export interface RetryBudgetOptions {
  /** Fraction of requests in the window that may be retries (Envoy budget_percent 20%). */
  ratio?: number;
  /** Retries allowed in flight regardless of the ratio (Envoy min_retry_concurrency 3). */
  minConcurrent?: number;
  windowMs?: number;
  buckets?: number;
}

/**
 * Per-isolate. A retry is allowed while fewer than `minConcurrent` retries are in flight, or while retries in
 * the sliding window (this one included) stay within ratio x requests. Requests and retries are counted in
 * time buckets so the window slides without keeping one entry per request.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly minConcurrent: number;
  private readonly bucketMs: number;
  private readonly requests: number[];
  private readonly retries: number[];
  private readonly stamps: number[];
  private active = 0;
  private denied = 0;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.2;
    this.minConcurrent = options.minConcurrent ?? 3;
    const buckets = options.buckets ?? 10;
    this.bucketMs = Math.max(1, Math.floor((options.windowMs ?? 10_000) / buckets));
    this.requests = new Array<number>(buckets).fill(0);
    this.retries = new Array<number>(buckets).fill(0);
    this.stamps = new Array<number>(buckets).fill(-1);
  }

  /** Counts one client request (first attempts only). */
  recordRequest(now: number): void {
    this.requests[this.bucket(now)]!++;
  }

  /** Takes a retry slot if the budget allows; pair every `true` with `release()` when the retry ends. */
  tryAcquire(now: number): boolean {
    this.bucket(now);
    const { requests, retries } = this.totals();
    const allowed = this.active < this.minConcurrent || retries + 1 <= this.ratio * requests;
    if (!allowed) {
      this.denied++;
      return false;
    }
    this.active++;
    this.retries[this.bucket(now)]!++;
    return true;
  }

  release(): void {
    if (this.active > 0) this.active--;
  }

  view(now: number): RetryBudgetView {
    this.bucket(now);
    return { ...this.totals(), activeRetries: this.active, denied: this.denied };
  }

  private totals() {
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.requests.length; i++) {
      requests += this.requests[i]!;
      retries += this.retries[i]!;
    }
    return { requests, retries };
  }

  /** Index of the bucket for `now`, clearing buckets that fell out of the window. */
  private bucket(now: number): number {
    const slot = Math.floor(now / this.bucketMs);
    const n = this.requests.length;
    for (let i = 0; i < n; i++) {
      if (this.stamps[i]! >= 0 && slot - this.stamps[i]! >= n) {
        this.requests[i] = 0;
        this.retries[i] = 0;
        this.stamps[i] = -1;
      }
    }
    const idx = ((slot % n) + n) % n;
    if (this.stamps[idx] !== slot) {
      this.requests[idx] = 0;
      this.retries[idx] = 0;
      this.stamps[idx] = slot;
    }
    return idx;
  }
}

/**
 * Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^(attempt-1))), attempt 1 = first retry.
 * Envoy's defaults: 25 ms base, 250 ms cap.
 */
export function fullJitterBackoff(attempt: number, baseMs = 25, capMs = 250, rand: () => number = Math.random): number {
  const exp = Math.max(0, Math.min(30, attempt - 1));
  const ceiling = Math.min(capMs, baseMs * 2 ** exp);
  return Math.floor(Math.min(0.999999, Math.max(0, rand())) * ceiling);
}
