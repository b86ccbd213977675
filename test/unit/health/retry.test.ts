import { describe, expect, it } from 'vitest';
import { RetryBudget, fullJitterBackoff } from '../../../src/health/retry.js';

describe('RetryBudget', () => {
  it('always allows minConcurrent retries in flight, even with no requests', () => {
    const b = new RetryBudget();
    expect([b.tryAcquire(0), b.tryAcquire(0), b.tryAcquire(0)]).toEqual([true, true, true]);
    expect(b.tryAcquire(0)).toBe(false);
    b.release();
    expect(b.tryAcquire(0)).toBe(true);
    expect(b.view(0)).toMatchObject({ activeRetries: 3, denied: 1 });
  });

  it('beyond the minimum, retries stay within 20% of requests in the window', () => {
    const b = new RetryBudget({ minConcurrent: 0 });
    for (let i = 0; i < 100; i++) b.recordRequest(0);
    let granted = 0;
    for (let i = 0; i < 50; i++) if (b.tryAcquire(0)) granted++;
    expect(granted).toBe(20);
  });

  it('ratio applies to sent retries even when they finished (not only in flight)', () => {
    const b = new RetryBudget({ minConcurrent: 1 });
    for (let i = 0; i < 10; i++) b.recordRequest(0);
    let granted = 0;
    for (let i = 0; i < 10; i++) {
      if (b.tryAcquire(0)) {
        granted++;
        b.release(); // finished at once: the concurrency minimum always has room
      }
    }
    expect(granted).toBe(10); // minimum concurrency 1 lets sequential retries through
    const strict = new RetryBudget({ minConcurrent: 0 });
    for (let i = 0; i < 10; i++) strict.recordRequest(0);
    let g2 = 0;
    for (let i = 0; i < 10; i++) {
      if (strict.tryAcquire(0)) {
        g2++;
        strict.release();
      }
    }
    expect(g2).toBe(2);
  });

  it('the window slides: old requests and retries stop counting', () => {
    const b = new RetryBudget({ minConcurrent: 0, windowMs: 10_000, buckets: 10 });
    for (let i = 0; i < 10; i++) b.recordRequest(0);
    expect(b.tryAcquire(0)).toBe(true);
    expect(b.tryAcquire(0)).toBe(true);
    expect(b.tryAcquire(0)).toBe(false);
    expect(b.view(9_999)).toMatchObject({ requests: 10, retries: 2 });
    expect(b.view(10_000)).toMatchObject({ requests: 0, retries: 0 });
    expect(b.tryAcquire(10_000)).toBe(false);
    for (let i = 0; i < 5; i++) b.recordRequest(12_000);
    expect(b.tryAcquire(12_500)).toBe(true);
    expect(b.tryAcquire(12_500)).toBe(false);
  });

  it('a long idle gap clears every bucket', () => {
    const b = new RetryBudget({ minConcurrent: 0 });
    for (let i = 0; i < 100; i++) b.recordRequest(500);
    expect(b.view(1_000_000)).toMatchObject({ requests: 0 });
  });
});

describe('fullJitterBackoff', () => {
  it('is 0 at rand 0 and below the exponential ceiling at rand ~1', () => {
    expect(fullJitterBackoff(1, 25, 250, () => 0)).toBe(0);
    expect(fullJitterBackoff(1, 25, 250, () => 0.9999999)).toBe(24);
    expect(fullJitterBackoff(2, 25, 250, () => 0.9999999)).toBe(49);
    expect(fullJitterBackoff(3, 25, 250, () => 0.9999999)).toBe(99);
    expect(fullJitterBackoff(4, 25, 250, () => 0.5)).toBe(100);
  });
  it('is capped', () => {
    for (const attempt of [5, 6, 10, 100, 10_000]) {
      expect(fullJitterBackoff(attempt, 25, 250, () => 0.9999999)).toBeLessThan(250);
      expect(fullJitterBackoff(attempt, 25, 250, () => 0.5)).toBe(125);
    }
  });
  it('stays in bounds for out-of-range rand values and attempts', () => {
    expect(fullJitterBackoff(0, 25, 250, () => 0.5)).toBe(12);
    expect(fullJitterBackoff(1, 25, 250, () => 1)).toBeLessThan(25);
    expect(fullJitterBackoff(1, 25, 250, () => -1)).toBe(0);
  });
});
