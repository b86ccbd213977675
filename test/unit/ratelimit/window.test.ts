/** Sliding-log and token-bucket arithmetic at window edges. */
import { describe, expect, it } from 'vitest';
import { granularity, SlidingLog, TokenBucket } from '../../../src/ratelimit/window.js';

describe('SlidingLog', () => {
  it('counts a request for exactly one window: still counted 1 ms before the edge, gone at the edge', () => {
    const log = new SlidingLog(10_000);
    log.add(5_000, 1);
    log.prune(14_999);
    expect(log.total).toBe(1);
    log.prune(15_000);
    expect(log.total).toBe(0);
  });

  it('slides: the quota frees request by request, oldest first', () => {
    const log = new SlidingLog(1_000);
    for (let t = 0; t < 10; t++) log.add(t * 100, 1); // 0,100,...,900
    log.prune(999);
    expect(log.total).toBe(10);
    expect(log.retryMs(999, 1, 10)).toBe(1); // request at 0 leaves the window at 1000
    log.prune(1_000);
    expect(log.total).toBe(9);
    log.prune(1_450);
    expect(log.total).toBe(5); // 500..900 remain
    expect(log.retryMs(1_450, 3, 5)).toBe(1_700 - 1_450); // 500, 600, 700 must leave
  });

  it('retryMs is the earliest time a request fits, and not earlier', () => {
    const log = new SlidingLog(10_000);
    log.add(0, 60);
    log.add(4_000, 40);
    log.prune(5_000);
    const wait = log.retryMs(5_000, 1, 100);
    expect(wait).toBe(5_000);
    log.prune(5_000 + wait - 1);
    expect(log.total + 1).toBeGreaterThan(100);
    log.prune(5_000 + wait);
    expect(log.total + 1).toBeLessThanOrEqual(100);
  });

  it('uses coarser buckets only for long windows and never drops a request early', () => {
    expect(granularity(10_000)).toBe(1);
    expect(granularity(86_400_000)).toBe(8_640);
    const log = new SlidingLog(86_400_000);
    log.add(0, 1); // bucket [0, 8640): kept until its latest possible member (8639) has left the window
    log.prune(86_400_000);
    expect(log.total).toBe(1);
    log.prune(8_639 + 86_400_000 - 1);
    expect(log.total).toBe(1);
    log.prune(8_639 + 86_400_000);
    expect(log.total).toBe(0);
  });

  it('remove takes back a lease counted in a future bucket', () => {
    const log = new SlidingLog(10_000);
    log.add(1_000, 1);
    log.add(1_200, 5);
    log.add(1_100, 1);
    expect(log.at).toEqual([1_000, 1_100, 1_200]);
    expect(log.remove(1_200, 7)).toBe(5);
    expect(log.total).toBe(2);
    expect(log.remove(999, 1)).toBe(0);
  });
});

describe('TokenBucket', () => {
  it('refills continuously at limit/window and never above capacity', () => {
    const b = new TokenBucket(10, 1_000, 10, 0);
    b.take(10);
    expect(b.remaining).toBe(0);
    expect(b.retryMs(1)).toBe(100);
    b.refill(99);
    expect(b.remaining).toBe(0);
    b.refill(100);
    expect(b.remaining).toBe(1);
    b.refill(10_000);
    expect(b.tokens).toBe(10);
    expect(b.fullResetMs()).toBe(0);
  });

  it('reports time to full and a bounded negative balance', () => {
    const b = new TokenBucket(4, 2_000, 4, 0);
    b.take(3);
    expect(b.fullResetMs()).toBe(1_500);
    b.take(100);
    expect(b.tokens).toBe(-4);
    expect(b.retryMs(1)).toBe(2_500);
    expect(b.retryMs(5)).toBe(Infinity);
  });
});
