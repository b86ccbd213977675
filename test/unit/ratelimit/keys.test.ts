/** Key derivation: combinations, CF-Connecting-IP only, missing parts. */
import { describe, expect, it } from 'vitest';
import { clientNetwork, deriveKey } from '../../../src/ratelimit/keys.js';
import { readCookie } from '../../../src/proxy/headers.js';

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

describe('Consumer keys', () => {
  it('follow the principal, not the address; without one the IP stands in under its own tag and missing says so', () => {
    const from = (ip: string) => new Headers({ 'cf-connecting-ip': ip });
    const k = (ip: string, principal?: string) => deriveKey([{ type: 'Consumer' }], from(ip), 'default/r', undefined, undefined, principal);
    expect(k('192.0.2.1', 'consumer:alice')).toEqual({ key: 'consumer=consumer%3Aalice' });
    expect(k('192.0.2.2', 'consumer:alice').key).toBe(k('192.0.2.1', 'consumer:alice').key);
    expect(k('192.0.2.1', 'consumer:bob').key).not.toBe(k('192.0.2.1', 'consumer:alice').key);
    expect(k('192.0.2.1', 'jwt:idp:alice').key).not.toBe(k('192.0.2.1', 'consumer:alice').key);
    expect(k('192.0.2.1')).toEqual({ key: 'consumer?ip=192.0.2.1', missing: 'consumer' });
  });
});

describe('clientNetwork (ClientIP keys)', () => {
  const g = (ipv4PrefixLength: number, ipv6PrefixLength: number) => ({ ipv4PrefixLength, ipv6PrefixLength });

  it('keeps IPv4 whole by default and groups IPv6 by /64', () => {
    expect(clientNetwork('203.0.113.7')).toBe('203.0.113.7');
    expect(clientNetwork('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    // Every address of one subscriber's /64 is one client; the next /64 is another.
    expect(clientNetwork('2001:DB8:1:2::1')).toBe(clientNetwork('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(clientNetwork('2001:db8:1:3::1')).not.toBe(clientNetwork('2001:db8:1:2::1'));
  });

  it('applies the configured prefix lengths, canonically', () => {
    expect(clientNetwork('198.51.100.77', g(24, 64))).toBe('198.51.100.0/24');
    expect(clientNetwork('198.51.100.77', g(20, 64))).toBe('198.51.96.0/20');
    expect(clientNetwork('198.51.100.77', g(0, 64))).toBe('0.0.0.0/0');
    expect(clientNetwork('2001:db8:abcd:1234::1', g(32, 48))).toBe('2001:db8:abcd::/48');
    expect(clientNetwork('2001:db8:abcd:1234::1', g(32, 56))).toBe('2001:db8:abcd:1200::/56');
    expect(clientNetwork('2001:0db8:0000:0000:0000:0000:0000:0001', g(32, 128))).toBe('2001:db8::1');
  });

  it('treats IPv4-mapped IPv6 as the IPv4 address, with the IPv4 prefix', () => {
    expect(clientNetwork('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientNetwork('::ffff:c000:0201')).toBe('192.0.2.1');
    expect(clientNetwork('::FFFF:192.0.2.1', g(24, 64))).toBe('192.0.2.0/24');
  });

  it('drops zone ids: fe80::1%eth0 is the same client as fe80::1', () => {
    expect(clientNetwork('fe80::1%eth0')).toBe('fe80::/64');
    expect(clientNetwork('fe80::1%25eth0')).toBe(clientNetwork('fe80::1'));
    expect(clientNetwork('192.0.2.1%eth0')).toBe('192.0.2.1');
  });

  it('puts garbage, overlong and ambiguous forms in one "unknown" bucket', () => {
    for (const bad of [
      '',
      '   ',
      'not-an-ip',
      '1.2.3.4, 5.6.7.8',
      '1.2.3',
      '256.1.1.1',
      '01.2.3.4',
      '0x7f.0.0.1',
      '127.1',
      '2130706433',
      '1.2.3.4:443',
      '[2001:db8::1]',
      '2001:db8::1::2',
      '2001:db8:g::1',
      `2001:db8::${'0'.repeat(80)}`,
      '1'.repeat(65),
      '::ffff:999.0.0.1',
      '<script>',
    ])
      expect(clientNetwork(bad), bad).toBe('unknown');
    expect(clientNetwork(null)).toBe('unknown');
    expect(clientNetwork(undefined)).toBe('unknown');
  });

  it('builds ClientIP keys from CF-Connecting-IP with the policy grouping', () => {
    const key = (ip: string, grouping?: { ipv4PrefixLength: number; ipv6PrefixLength: number }) =>
      deriveKey([{ type: 'ClientIP' }], h({ 'cf-connecting-ip': ip }), 'ns/r', undefined, grouping).key;
    expect(key('2001:db8:1:2::1')).toBe(key('2001:db8:1:2::99'));
    expect(key('2001:db8:1:2::1', g(32, 128))).not.toBe(key('2001:db8:1:2::99', g(32, 128)));
    expect(key('::ffff:192.0.2.1')).toBe(key('192.0.2.1'));
    expect(key('garbage')).toBe(key('more garbage'));
    // The missing-header fallback groups the same way.
    const fallback = (ip: string) =>
      deriveKey([{ type: 'Header', name: 'x-api-key' }], h({ 'cf-connecting-ip': ip }), 'ns/r', undefined).key;
    expect(fallback('2001:db8:1:2::1')).toBe(fallback('2001:db8:1:2::2'));
  });

  it('gives the same network whatever was asked before: the per-isolate cache is keyed by grouping and address', () => {
    const ip = '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1';
    const wide = { ipv4PrefixLength: 24, ipv6PrefixLength: 48 };
    const exact = { ipv4PrefixLength: 32, ipv6PrefixLength: 128 };
    const first = [clientNetwork(ip), clientNetwork(ip, wide), clientNetwork(ip, exact), clientNetwork(` ${ip} `)];
    expect(first).toEqual([
      '2001:db8:aaaa:bbbb::/64',
      '2001:db8:aaaa::/48',
      '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1',
      '2001:db8:aaaa:bbbb::/64',
    ]);
    // Asked again in another order (now from the cache), the answers do not move.
    expect([clientNetwork(ip, exact), clientNetwork(ip, wide), clientNetwork(ip)]).toEqual([first[2], first[1], first[0]]);
    // More distinct addresses than the cache holds: it starts over and still answers right.
    for (let i = 0; i < 5000; i++) clientNetwork(`10.${(i >> 8) & 255}.${i & 255}.7`);
    expect(clientNetwork('10.1.2.7', wide)).toBe('10.1.2.0/24');
    expect(clientNetwork(ip)).toBe(first[0]);
  });
});
