import { describe, expect, it } from 'vitest';
import { OutlierDetector } from '../../../src/health/outlier.js';
import { EndpointLoad, overloadLogLine, parseRetryAfter } from '../../../src/health/overload.js';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const MAX = 60_000;

describe('parseRetryAfter (RFC 9110 delay-seconds or HTTP-date, bounded)', () => {
  it.each([
    ['5', 5000],
    [' 2 ', 2000],
    ['60', 60_000],
    ['61', MAX],
    ['999999999999', MAX],
    ['99999999999999999999999999999', MAX],
    ['Thu, 03 Dec 2026 12:00:07 GMT', 7000],
    ['Thursday, 03-Dec-26 12:00:09 GMT', 9000],
    ['Thu Dec  3 12:00:04 2026', 4000],
    ['Fri, 04 Dec 2026 12:00:00 GMT', MAX],
  ])('%j -> %d ms', (value, ms) => {
    expect(parseRetryAfter(value, NOW, MAX)).toBe(ms);
  });

  it.each([
    null,
    undefined,
    '',
    '0',
    '-5',
    '-1',
    '1.5',
    '5s',
    'soon',
    'NaN',
    'Infinity',
    '0x10',
    '1e3',
    'Thu, 03 Dec 2026 11:59:00 GMT',
    'Blursday, 03 Dec 2026 12:00:07 GMT',
    '2026-12-03T12:00:07Z',
    'x'.repeat(100),
  ])('%j is not honoured', (value) => {
    expect(parseRetryAfter(value, NOW, MAX)).toBeUndefined();
  });

  it('honours nothing when the cap is 0 (circuitBreaker.maxRetryAfter "0s")', () => {
    expect(parseRetryAfter('5', NOW, 0)).toBeUndefined();
    expect(parseRetryAfter('5', NOW, 2000)).toBe(2000);
  });
});

describe('EndpointLoad', () => {
  it('has room until maxRequests are in flight, and again after a release', () => {
    const l = new EndpointLoad();
    expect(l.wait('a', 2, NOW)).toBe(0);
    l.acquire('a');
    expect(l.wait('a', 2, NOW)).toBe(0);
    l.acquire('a');
    expect(l.wait('a', 2, NOW)).toBeGreaterThan(0);
    expect(l.wait('b', 2, NOW)).toBe(0);
    l.release('a');
    expect(l.wait('a', 2, NOW)).toBe(0);
    expect(l.inFlightCount('a')).toBe(1);
  });

  it('never counts below zero, so a stray release cannot raise the limit', () => {
    const l = new EndpointLoad();
    l.release('a');
    l.release('a');
    l.acquire('a');
    expect(l.inFlightCount('a')).toBe(1);
    expect(l.wait('a', 1, NOW)).toBeGreaterThan(0);
  });

  it('a Retry-After pause takes the endpoint out until it ends, whatever the in-flight count', () => {
    const l = new EndpointLoad();
    expect(l.hold('a', NOW + 3000, NOW)).toBe(true);
    expect(l.wait('a', 100, NOW)).toBe(3000);
    expect(l.wait('a', 100, NOW + 2999)).toBe(1);
    expect(l.wait('a', 100, NOW + 3000)).toBe(0);
    expect(l.view('a', NOW + 3000)).toBeUndefined();
  });

  it('keeps the longer of two pauses and reports only the start of one', () => {
    const l = new EndpointLoad();
    expect(l.hold('a', NOW + 5000, NOW)).toBe(true);
    expect(l.hold('a', NOW + 1000, NOW)).toBe(false);
    expect(l.heldUntil('a', NOW)).toBe(NOW + 5000);
    expect(l.hold('a', NOW + 8000, NOW + 10)).toBe(false);
    expect(l.heldUntil('a', NOW)).toBe(NOW + 8000);
    expect(l.hold('a', NOW + 9000, NOW + 8000)).toBe(true);
  });

  it('shows in-flight and pauses, and forgets endpoints that left the table', () => {
    const l = new EndpointLoad();
    l.acquire('a');
    l.hold('b', NOW + 1000, NOW);
    expect(l.view('a', NOW)).toEqual({ inFlight: 1 });
    expect(l.view('b', NOW)).toEqual({ inFlight: 0, heldUntil: NOW + 1000 });
    l.retain(new Set(['c']));
    expect(l.view('a', NOW)).toBeUndefined();
    expect(l.view('b', NOW)).toBeUndefined();
  });

  it('logs a pause as one JSON line with the endpoint, status and end', () => {
    const line = JSON.parse(overloadLogLine('ns/b|http://x|c1', 429, NOW + 2000, NOW, 'ns/r/rule0')) as Record<string, unknown>;
    expect(line).toMatchObject({
      event: 'health.overload.hold',
      endpoint: 'ns/b|http://x|c1',
      until: '2026-12-03T12:00:02.000Z',
      route: 'ns/r/rule0',
    });
    expect(String(line.reason)).toContain('429');
  });
});

describe('a half-open trial answered with a pause', () => {
  it('is handed back without an outcome: the next request after the pause takes it', () => {
    const d = new OutlierDetector({ consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectionMs: 1000, maxEjectionPercent: 100 });
    d.record('a', 'http-5xx', 0);
    expect(d.admit('a', 1000)).toBe(true);
    expect(d.trialAvailable('a', 1001)).toBe(false);
    d.releaseTrial('a');
    expect(d.state('a', 1001)).toBe('half-open');
    expect(d.trialAvailable('a', 1001)).toBe(true);
    expect(d.view('a', 1001)?.counters.failures).toBe(1);
  });

  it('changes nothing for a closed or open circuit', () => {
    const d = new OutlierDetector({ consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectionMs: 1000, maxEjectionPercent: 100 });
    d.releaseTrial('unknown');
    d.record('a', 'http-5xx', 0);
    d.releaseTrial('a');
    expect(d.state('a', 10)).toBe('open');
    expect(d.admit('a', 10)).toBe(false);
  });
});
