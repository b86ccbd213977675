/** Key derivation: combinations, CF-Connecting-IP only, missing parts. */
import { describe, expect, it } from 'vitest';
import { deriveKey, readCookie } from '../../../src/ratelimit/keys.js';

const h = (o: Record<string, string>) => new Headers(o);

describe('deriveKey', () => {
  it('uses CF-Connecting-IP and never X-Forwarded-For', () => {
    const a = deriveKey([{ type: 'ClientIP' }], h({ 'cf-connecting-ip': '1.2.3.4', 'x-forwarded-for': '9.9.9.9' }), 'ns/r', undefined);
    const b = deriveKey([{ type: 'ClientIP' }], h({ 'cf-connecting-ip': '1.2.3.4', 'x-forwarded-for': '8.8.8.8' }), 'ns/r', undefined);
    expect(a.key).toBe(b.key);
    expect(a.key).toContain('1.2.3.4');
    expect(a.key).not.toContain('9.9.9.9');
  });

  it('combines header, cookie, route and IP; each part changes the key', () => {
    const keys = [
      { type: 'Header' as const, name: 'X-Api-Key' },
      { type: 'Cookie' as const, name: 'sid' },
      { type: 'Route' as const },
      { type: 'ClientIP' as const },
    ];
    const base = { 'x-api-key': 'k1', cookie: 'a=1; sid=s1', 'cf-connecting-ip': '1.1.1.1' };
    const k = (o: Record<string, string>, route = 'ns/r', section?: string) => deriveKey(keys, h({ ...base, ...o }), route, section).key;
    const all = [
      k({}),
      k({ 'x-api-key': 'k2' }),
      k({ cookie: 'sid=s2' }),
      k({ 'cf-connecting-ip': '2.2.2.2' }),
      k({}, 'ns/other'),
      k({}, 'ns/r', 'rule-a'),
    ];
    expect(new Set(all).size).toBe(all.length);
    expect(deriveKey(keys, h(base), 'ns/r', undefined).missing).toBeUndefined();
  });

  it('falls back to the client IP for a missing header, tagged so it cannot collide with a header value', () => {
    const keys = [{ type: 'Header' as const, name: 'x-api-key' }];
    const missing = deriveKey(keys, h({ 'cf-connecting-ip': '1.2.3.4' }), 'ns/r', undefined);
    expect(missing.missing).toBe('header "x-api-key"');
    const spoof = deriveKey(keys, h({ 'x-api-key': '1.2.3.4', 'cf-connecting-ip': '1.2.3.4' }), 'ns/r', undefined);
    expect(spoof.key).not.toBe(missing.key);
    const other = deriveKey(keys, h({ 'cf-connecting-ip': '5.6.7.8' }), 'ns/r', undefined);
    expect(other.key).not.toBe(missing.key);
  });

  it('reports a missing cookie and reads quoted cookie values', () => {
    expect(deriveKey([{ type: 'Cookie', name: 'sid' }], h({ cookie: 'other=1' }), 'ns/r', undefined).missing).toBe('cookie "sid"');
    expect(readCookie('a=1; sid="abc"; b=2', 'sid')).toBe('abc');
    expect(readCookie('xsid=1', 'sid')).toBeUndefined();
  });
});
