/** JWT verification against forged, tampered and mistimed tokens, and the JWKS registry under rotation and floods. */
import { base64url, SignJWT, UnsecuredJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtProvider } from '../../../src/schema/securitypolicy.js';
import { createJwksRegistry } from '../../../src/security/jwks.js';
import { compileJwt, type JwtResult } from '../../../src/security/jwt.js';
import { AUDIENCE, fakeJwksServer, headersWith, ISSUER, jwks, makeKey, NOW, NOW_S, sign, type TestKey } from './support.js';

const URL_ = new URL('https://api.example.com/orders');
const JWKS_URI = 'https://idp.example.com/.well-known/jwks.json';

let rsa: TestKey;
let ec: TestKey;
let other: TestKey;
beforeAll(async () => {
  rsa = await makeKey('rsa-1', 'RS256');
  ec = await makeKey('ec-1', 'ES256');
  other = await makeKey('rsa-1', 'RS256'); // same kid, different key: a forger's
});

const local = (extra: Record<string, unknown> = {}) =>
  compileJwt({
    optional: false,
    providers: [JwtProvider.parse({ name: 'idp', issuer: ISSUER, audiences: [AUDIENCE], localJWKS: jwks(rsa, ec), ...extra })],
  });
const verify = (token: string, now = NOW, extra: Record<string, unknown> = {}) =>
  local(extra).authenticate(headersWith(token), URL_, { now });
const expectInvalid = (r: JwtResult, reason?: RegExp) => {
  expect(r.status).toBe('invalid');
  if (reason && r.status === 'invalid') expect(r.reason).toMatch(reason);
};

describe('JWT verification', () => {
  it('accepts RS256 and ES256 tokens from the JWKS, with claims and scopes', async () => {
    const r = await verify(await sign(rsa, { scope: 'read write' }));
    expect(r).toMatchObject({ status: 'ok', provider: 'idp', claims: { sub: 'user-1' }, scopes: ['read', 'write'] });
    expect((await verify(await sign(ec))).status).toBe('ok');
  });

  it('refuses alg "none", with or without a signature segment', async () => {
    const unsecured = new UnsecuredJWT({ iss: ISSUER, aud: AUDIENCE, exp: NOW_S + 600 }).encode();
    expectInvalid(await verify(unsecured), /malformed/);
    expectInvalid(await verify(`${unsecured}AAAA`), /algorithm "none" not allowed/);
  });

  it('refuses HS256 signed with the public key bytes (algorithm confusion)', async () => {
    for (const secret of [
      new TextEncoder().encode(rsa.spki),
      new TextEncoder().encode(JSON.stringify(rsa.publicJwk)),
      base64url.decode(rsa.publicJwk.n!),
    ]) {
      const forged = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: NOW_S + 600 })
        .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
        .sign(secret);
      expectInvalid(await verify(forged), /algorithm "HS256" not allowed/);
    }
  });

  it('refuses a token signed by another key under a known kid, and a tampered payload', async () => {
    expectInvalid(await verify(await sign(other)), /signature verification failed/);
    const [h, , s] = (await sign(rsa, { sub: 'user-1' })).split('.');
    const evil = base64url.encode(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: NOW_S + 600 }));
    expectInvalid(await verify(`${h}.${evil}.${s}`), /signature verification failed/);
  });

  it('checks issuer and audience', async () => {
    expectInvalid(await verify(await sign(rsa, { iss: 'https://evil.example.com' })), /issuer mismatch/);
    expectInvalid(await verify(await sign(rsa, { aud: 'other-api' })), /claim "aud"/);
    expect((await verify(await sign(rsa, { aud: ['other-api', AUDIENCE] }))).status).toBe('ok');
  });

  it('allows 60 s of clock skew on exp and nbf, not more; exp is required', async () => {
    expect((await verify(await sign(rsa, { exp: NOW_S - 59 }))).status).toBe('ok');
    const expired = await verify(await sign(rsa, { exp: NOW_S - 61 }));
    expect(expired).toMatchObject({ status: 'invalid', expired: true });
    expect((await verify(await sign(rsa, { nbf: NOW_S + 59 }))).status).toBe('ok');
    expectInvalid(await verify(await sign(rsa, { nbf: NOW_S + 120 })), /claim "nbf"/);
    expectInvalid(await verify(await sign(rsa, { exp: undefined })), /claim "exp"/);
  });

  it('refuses garbage without throwing', async () => {
    for (const garbage of [
      'abc',
      'a.b',
      'a.b.c',
      '!!!.@@@.###',
      'eyJhbGciOiJSUzI1NiJ9.%%%.sig',
      `${'A'.repeat(20_000)}.b.c`,
      'e30.e30.e30',
      'bnVsbA.bnVsbA.AA',
    ])
      expectInvalid(await verify(garbage));
  });

  it('reads tokens from a cookie or a query parameter; a missing token is "absent"', async () => {
    const token = await sign(rsa);
    const v = local({ extractFrom: { cookies: ['session'], params: ['access_token'] } });
    expect((await v.authenticate(new Headers({ cookie: `a=1; session=${token}` }), URL_, { now: NOW })).status).toBe('ok');
    expect((await v.authenticate(new Headers(), new URL(`https://x/?access_token=${token}`), { now: NOW })).status).toBe('ok');
    expect((await v.authenticate(headersWith(token), URL_, { now: NOW })).status).toBe('absent');
    expect((await local().authenticate(new Headers({ authorization: `Basic ${token}` }), URL_, { now: NOW })).status).toBe('absent');
  });

  it('claimToHeaders: scalars and lists; values that cannot be a header are dropped', async () => {
    const v = local({
      claimToHeaders: [
        { claim: 'sub', header: 'x-user' },
        { claim: 'org.id', header: 'X-Org' },
        { claim: 'roles', header: 'x-roles' },
        { claim: 'evil', header: 'x-evil' },
      ],
    });
    const r = await v.authenticate(headersWith(await sign(rsa, { org: { id: 42 }, roles: ['a', 'b'], evil: 'x\r\nset-cookie: y' })), URL_, {
      now: NOW,
    });
    expect(r.status === 'ok' && r.headers).toEqual([
      ['x-user', 'user-1'],
      ['x-org', '42'],
      ['x-roles', 'a,b'],
    ]);
    expect(v.claimHeaders).toEqual(['x-user', 'x-org', 'x-roles', 'x-evil']);
  });
});

describe('verified-token cache', () => {
  it('serves a token that verified from the cache until it expires; other bytes and new key sets verify again', async () => {
    const v = local();
    const token = await sign(rsa, { exp: NOW_S + 30 });
    const first = await v.authenticate(headersWith(token), URL_, { now: NOW });
    const second = await v.authenticate(headersWith(token), URL_, { now: NOW + 1_000 });
    expect(first.status).toBe('ok');
    // The same result object: no second signature check.
    expect(second).toBe(first);
    // Past exp plus the 60 s skew the cached entry is not used: the token is expired.
    expectInvalid(await v.authenticate(headersWith(token), URL_, { now: NOW + 91_000 }), /expired/);
    // A token differing in its signature is no hit.
    const [h, p, sig] = token.split('.');
    expectInvalid(await v.authenticate(headersWith(`${h}.${p}.${sig!.slice(0, -4)}AAAA`), URL_, { now: NOW }));
    // Another table version's policy (a new compile) verifies again.
    const fresh = await local().authenticate(headersWith(token), URL_, { now: NOW + 2_000 });
    expect(fresh.status).toBe('ok');
    expect(fresh).not.toBe(first);
  });
});

describe('JWKS registry', () => {
  const provider = (uri = JWKS_URI) => JwtProvider.parse({ name: 'idp', issuer: ISSUER, remoteJWKS: { uri, cacheDuration: '5m' } });

  it('fetches once, then serves from the cache', async () => {
    const server = fakeJwksServer(() => jwks(rsa));
    const registry = createJwksRegistry({ fetch: server.fetch });
    const v = compileJwt({ optional: false, providers: [provider()] }, { jwks: registry });
    const token = await sign(rsa, { aud: undefined });
    const results = await Promise.all(Array.from({ length: 20 }, () => v.authenticate(headersWith(token), URL_, { now: NOW })));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(server.calls).toEqual([JWKS_URI]);
  });

  it('a flood of unknown kids causes at most one refetch per interval', async () => {
    const server = fakeJwksServer(() => jwks(rsa));
    const registry = createJwksRegistry({ fetch: server.fetch, minRefetchIntervalMs: 30_000 });
    const v = compileJwt({ optional: false, providers: [provider()] }, { jwks: registry });
    await v.authenticate(headersWith(await sign(rsa)), URL_, { now: NOW });
    expect(server.calls).toHaveLength(1);
    const forged = await Promise.all(Array.from({ length: 50 }, (_, i) => sign({ ...other, kid: `forged-${i}` })));
    // Concurrent, then sequential over 29 s: one refetch in all.
    const burst = await Promise.all(forged.map((t) => v.authenticate(headersWith(t), URL_, { now: NOW + 31_000 })));
    for (let s = 0; s < 29; s++) await v.authenticate(headersWith(forged[s]!), URL_, { now: NOW + 31_000 + s * 1000 });
    expect(burst.every((r) => r.status === 'invalid')).toBe(true);
    expect(server.calls).toHaveLength(2);
    // The next interval allows one more.
    for (let i = 0; i < 10; i++) await v.authenticate(headersWith(forged[i]!), URL_, { now: NOW + 62_000 });
    expect(server.calls).toHaveLength(3);
  });

  it('rotation: a new kid is fetched once and accepted; the removed key stops verifying', async () => {
    const next = await makeKey('rsa-2');
    let served = jwks(rsa);
    const server = fakeJwksServer(() => served);
    const logs: Record<string, unknown>[] = [];
    const registry = createJwksRegistry({ fetch: server.fetch, log: (l) => logs.push(l) });
    const v = compileJwt({ optional: false, providers: [provider()] }, { jwks: registry });
    const oldToken = await sign(rsa);
    expect((await v.authenticate(headersWith(oldToken), URL_, { now: NOW })).status).toBe('ok');
    served = jwks(next); // the IdP rotated: rsa-1 is gone
    const newToken = await sign(next);
    expect((await v.authenticate(headersWith(newToken), URL_, { now: NOW + 40_000 })).status).toBe('ok');
    expect((await v.authenticate(headersWith(newToken), URL_, { now: NOW + 41_000 })).status).toBe('ok');
    expect(server.calls).toHaveLength(2);
    expect((await v.authenticate(headersWith(oldToken), URL_, { now: NOW + 42_000 })).status).toBe('invalid');
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'jwks.rotated', added: ['rsa-2'], removed: ['rsa-1'] }));
  });

  it('refreshes in the background before expiry, serving the cached keys meanwhile', async () => {
    const server = fakeJwksServer(() => jwks(rsa));
    const registry = createJwksRegistry({ fetch: server.fetch });
    const v = compileJwt({ optional: false, providers: [provider()] }, { jwks: registry });
    const token = await sign(rsa, { exp: NOW_S + 3600 });
    await v.authenticate(headersWith(token), URL_, { now: NOW });
    const background: Promise<unknown>[] = [];
    const ctx = (now: number) => ({ now, waitUntil: (p: Promise<unknown>) => background.push(p) });
    expect((await v.authenticate(headersWith(token), URL_, ctx(NOW + 200_000))).status).toBe('ok'); // 67% of 5m: no refresh
    expect(background).toHaveLength(0);
    expect((await v.authenticate(headersWith(token), URL_, ctx(NOW + 250_000))).status).toBe('ok'); // 83%: refresh
    expect(background).toHaveLength(1);
    await Promise.all(background);
    expect(server.calls).toHaveLength(2);
  });

  it('an unreachable JWKS is "unavailable" (never "ok"), and a cold failure is not retried at once', async () => {
    let status = 500;
    const server = fakeJwksServer(
      () => jwks(rsa),
      () => status,
    );
    const registry = createJwksRegistry({ fetch: server.fetch, coldRetryMs: 5_000 });
    const v = compileJwt({ optional: false, providers: [provider()] }, { jwks: registry });
    const token = await sign(rsa);
    expect((await v.authenticate(headersWith(token), URL_, { now: NOW })).status).toBe('unavailable');
    expect((await v.authenticate(headersWith(token), URL_, { now: NOW + 1_000 })).status).toBe('unavailable');
    expect(server.calls).toHaveLength(1);
    status = 200;
    expect((await v.authenticate(headersWith(token), URL_, { now: NOW + 6_000 })).status).toBe('ok');
    expect(server.calls).toHaveLength(2);
  });

  it('a JWKS with only symmetric or private keys is not usable', async () => {
    const server = fakeJwksServer(() => ({
      keys: [
        { kty: 'oct', k: 'c2VjcmV0', kid: 'rsa-1', alg: 'HS256' },
        { ...rsa.publicJwk, d: 'x' },
      ],
    }));
    const v = compileJwt({ optional: false, providers: [provider()] }, { jwks: createJwksRegistry({ fetch: server.fetch }) });
    expect((await v.authenticate(headersWith(await sign(rsa)), URL_, { now: NOW })).status).toBe('unavailable');
  });

  it('a token from another issuer never causes a JWKS fetch', async () => {
    const server = fakeJwksServer(() => jwks(rsa));
    const v = compileJwt({ optional: false, providers: [provider()] }, { jwks: createJwksRegistry({ fetch: server.fetch }) });
    expect((await v.authenticate(headersWith(await sign(rsa, { iss: 'https://else.example.com' })), URL_, { now: NOW })).status).toBe(
      'invalid',
    );
    expect(server.calls).toHaveLength(0);
  });
});
