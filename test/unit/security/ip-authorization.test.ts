/** Client addresses (v4, v6, mapped v4, garbage), CIDR lists, and authorization rules with the IP pre-check. */
import { describe, expect, it } from 'vitest';
import { Authorization } from '../../../src/schema/securitypolicy.js';
import { compileAuthorization, readClaim, scopesOf } from '../../../src/security/authorization.js';
import { compileCidrs, parseClientAddress } from '../../../src/security/ip.js';

const inList = (cidrs: string[], ip: string) => {
  const a = parseClientAddress(ip);
  return a !== undefined && compileCidrs(cidrs)(a);
};

describe('client address and CIDRs', () => {
  it.each([
    ['203.0.113.7', ['203.0.113.0/24'], true],
    ['203.0.114.1', ['203.0.113.0/24'], false],
    ['::ffff:203.0.113.7', ['203.0.113.0/24'], true], // mapped v4 meets a v4 range
    ['203.0.113.7', ['::ffff:203.0.113.0/120'], true], // and a mapped range meets v4
    ['2001:db8::1', ['2001:db8::/32'], true],
    ['2001:DB8:0:0::1', ['2001:db8::/32'], true],
    ['2001:db9::1', ['2001:db8::/32'], false],
    ['2001:db8::1', ['0.0.0.0/0'], false], // families do not mix
    ['10.0.0.1', ['::/0'], false],
    ['10.0.0.1', ['0.0.0.0/0'], true],
    ['10.255.255.255', ['10.0.0.0/8'], true],
    ['11.0.0.0', ['10.0.0.0/8'], false],
  ])('%s in %j → %s', (ip, cidrs, expected) => expect(inList(cidrs, ip)).toBe(expected));

  it.each([
    '',
    'garbage',
    '10.1',
    '0x7f.0.0.1',
    '2130706433',
    '010.0.0.1',
    '256.1.1.1',
    'fe80::1%eth0',
    '[::1]',
    '1.2.3.4, 5.6.7.8',
    ':::1',
  ])('refuses %j as an address', (s) => expect(parseClientAddress(s)).toBeUndefined());
});

describe('authorization', () => {
  const authz = (spec: unknown) => compileAuthorization(Authorization.parse(spec));
  const addr = (s: string) => parseClientAddress(s);

  it('first matching rule wins, then defaultAction', () => {
    const a = authz({
      defaultAction: 'Deny',
      rules: [
        { name: 'block-bad', action: 'Deny', principal: { clientCIDRs: ['198.51.100.0/24'] } },
        { name: 'office', action: 'Allow', principal: { clientCIDRs: ['198.51.0.0/16', '2001:db8::/32'] } },
      ],
    });
    expect(a.decide({ clientAddress: addr('198.51.100.9') })).toEqual({ allowed: false, rule: 'block-bad' });
    expect(a.decide({ clientAddress: addr('198.51.7.9') })).toEqual({ allowed: true, rule: 'office' });
    expect(a.decide({ clientAddress: addr('2001:db8::5') })).toEqual({ allowed: true, rule: 'office' });
    expect(a.decide({ clientAddress: addr('192.0.2.1') })).toEqual({ allowed: false });
  });

  it('every field of a principal must match; claims match any listed value, scopes all', () => {
    const a = authz({
      rules: [
        {
          name: 'admins-from-office',
          action: 'Allow',
          principal: {
            clientCIDRs: ['10.0.0.0/8'],
            jwt: { provider: 'idp', claims: [{ name: 'org.role', values: ['admin', 'owner'] }], scopes: ['write'] },
          },
        },
      ],
    });
    const jwt = (claims: Record<string, unknown>, provider = 'idp') => ({ provider, claims, scopes: scopesOf(claims) });
    const ok = jwt({ org: { role: 'admin' }, scope: 'read write' });
    expect(a.decide({ clientAddress: addr('10.1.2.3'), jwt: ok }).allowed).toBe(true);
    expect(a.decide({ clientAddress: addr('11.1.2.3'), jwt: ok }).allowed).toBe(false);
    expect(a.decide({ clientAddress: addr('10.1.2.3'), jwt: jwt({ org: { role: 'admin' }, scope: 'read' }) }).allowed).toBe(false);
    expect(a.decide({ clientAddress: addr('10.1.2.3'), jwt: jwt({ org: { role: 'user' }, scope: 'write' }) }).allowed).toBe(false);
    expect(a.decide({ clientAddress: addr('10.1.2.3'), jwt: jwt({ org: { role: ['user', 'owner'] }, scp: ['write'] }) }).allowed).toBe(
      true,
    );
    expect(a.decide({ clientAddress: addr('10.1.2.3'), jwt: jwt({ org: { role: 'admin' }, scope: 'write' }, 'other') }).allowed).toBe(
      false,
    );
    expect(a.decide({ clientAddress: addr('10.1.2.3') }).allowed).toBe(false);
  });

  it('consumers', () => {
    const a = authz({ defaultAction: 'Deny', rules: [{ action: 'Allow', principal: { consumers: ['acme'] } }] });
    expect(a.decide({ clientAddress: undefined, consumer: 'acme' }).allowed).toBe(true);
    expect(a.decide({ clientAddress: undefined, consumer: 'other' }).allowed).toBe(false);
  });

  it('IP pre-check denies only what no credential could allow', () => {
    const a = authz({
      defaultAction: 'Deny',
      rules: [
        { action: 'Deny', principal: { clientCIDRs: ['192.0.2.0/24'] } },
        { action: 'Allow', principal: { clientCIDRs: ['10.0.0.0/8'], consumers: ['acme'] } },
      ],
      // (consumers need apiKeyAuth in a full policy; the rule list alone is enough here)
    });
    expect(a.precheck(addr('192.0.2.1'))).toMatchObject({ decided: true, allowed: false });
    expect(a.precheck(addr('10.0.0.1'))).toEqual({ decided: false }); // depends on the consumer
    expect(a.precheck(addr('172.16.0.1'))).toMatchObject({ decided: true, allowed: false }); // no rule can match: default Deny
    expect(a.precheck(undefined)).toMatchObject({ decided: true, unknownAddress: true }); // fail closed
    const open = authz({ defaultAction: 'Allow', rules: [{ action: 'Deny', principal: { clientCIDRs: ['2001:db8::/32'] } }] });
    expect(open.precheck(addr('2001:db8::1'))).toMatchObject({ decided: true });
    expect(open.precheck(addr('2001:db9::1'))).toEqual({ decided: false });
  });

  it('reads nested claims, preferring a literal dotted name', () => {
    expect(readClaim({ a: { b: 1 } }, 'a.b')).toBe(1);
    expect(readClaim({ 'a.b': 2, a: { b: 1 } }, 'a.b')).toBe(2);
    expect(readClaim({ a: 'x' }, 'a.length')).toBeUndefined();
    expect(readClaim({}, '__proto__.polluted')).toBeUndefined();
  });
});

describe('IP stage only where addresses matter', () => {
  it('a rule list without CIDRs never refuses at the IP stage', () => {
    const a = compileAuthorization(
      Authorization.parse({ defaultAction: 'Deny', rules: [{ action: 'Allow', principal: { consumers: ['acme'] } }] }),
    );
    expect(a.precheck(undefined)).toEqual({ decided: false });
    expect(a.precheck(parseClientAddress('192.0.2.1'))).toEqual({ decided: false });
  });
});
