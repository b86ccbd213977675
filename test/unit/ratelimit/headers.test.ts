/** Draft-10 RateLimit / RateLimit-Policy formatting and the most constraining limit. */
import { describe, expect, it } from 'vitest';
import { limitNames, mostConstraining, policyItem, rateLimitHeaders, type LimitStatus } from '../../../src/ratelimit/headers.js';

const st = (o: Partial<LimitStatus>): LimitStatus => ({
  name: 'p',
  policy: 'default/p',
  requests: 10,
  windowMs: 1_000,
  remaining: 5,
  resetSeconds: 1,
  denied: false,
  legacy: false,
  ...o,
});

describe('headers', () => {
  it('formats RateLimit-Policy as a list and RateLimit for the most constraining limit', () => {
    const items = [policyItem('api/1s', 10, 1_000), policyItem('api/1h', 1_000, 3_600_000)];
    const h = rateLimitHeaders(items, [
      st({ name: 'api/1s', requests: 10, remaining: 7, resetSeconds: 1 }),
      st({ name: 'api/1h', requests: 1_000, windowMs: 3_600_000, remaining: 3, resetSeconds: 3_540 }),
    ]);
    expect(h).toEqual([
      ['RateLimit-Policy', '"api/1s";q=10;w=1, "api/1h";q=1000;w=3600'],
      ['RateLimit', '"api/1h";r=3;t=3540'],
    ]);
  });

  it('rounds sub-second windows up to whole seconds and escapes names', () => {
    expect(policyItem('a"b', 5, 1_500)).toBe('"a\\"b";q=5;w=2');
  });

  it('adds legacy X-RateLimit-* only when a policy asks for them', () => {
    const h = new Map(rateLimitHeaders([], [st({ legacy: true, requests: 60, remaining: 0, resetSeconds: 12, denied: true })]));
    expect(h.get('X-RateLimit-Limit')).toBe('60');
    expect(h.get('X-RateLimit-Remaining')).toBe('0');
    expect(h.get('X-RateLimit-Reset')).toBe('12');
    expect(new Map(rateLimitHeaders([], [st({})])).has('X-RateLimit-Limit')).toBe(false);
  });

  it('picks a denying limit (longest wait) over any allowing one, else the least remaining (ties: later reset)', () => {
    expect(
      mostConstraining([
        st({ name: 'a', remaining: 0 }),
        st({ name: 'b', denied: true, resetSeconds: 2 }),
        st({ name: 'c', denied: true, resetSeconds: 9 }),
      ])!.name,
    ).toBe('c');
    expect(mostConstraining([st({ name: 'a', remaining: 4 }), st({ name: 'b', remaining: 2 })])!.name).toBe('b');
    expect(
      mostConstraining([st({ name: 'a', remaining: 2, resetSeconds: 1 }), st({ name: 'b', remaining: 2, resetSeconds: 30 })])!.name,
    ).toBe('b');
    expect(mostConstraining([])).toBeUndefined();
  });

  it('names limits by policy, adding the window when there are several', () => {
    expect(limitNames('api', ['1s'])).toEqual(['api']);
    expect(limitNames('api', ['1s', '1h', '1s'])).toEqual(['api/1s', 'api/1h', 'api/1s#1']);
  });
});
