/** jose inside workerd: local JWKS verification, the JWKS registry over a fetch, and the composed stage (no gateway wiring). */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtProvider, SecurityPolicy } from '../../src/schema/securitypolicy.js';
import { createJwksRegistry } from '../../src/security/jwks.js';
import { applyToUpstream, compileSecurityPolicy } from '../../src/security/policy.js';
import { compileJwt } from '../../src/security/jwt.js';

const ISSUER = 'https://idp.example.com';
const NOW = Date.now();
const keys: Record<string, { privateKey: CryptoKey; jwk: Record<string, unknown> }> = {};

beforeAll(async () => {
  for (const [kid, alg] of [
    ['rs', 'RS256'],
    ['es', 'ES256'],
    ['ed', 'EdDSA'],
  ] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    keys[kid] = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
  }
});

const sign = (kid: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ iss: ISSUER, sub: 'alice', exp: Math.floor(NOW / 1000) + 300, ...claims })
    .setProtectedHeader({ alg: String(keys[kid]!.jwk.alg), kid })
    .sign(keys[kid]!.privateKey);
const bearer = (t: string) => new Headers({ authorization: `Bearer ${t}` });
const url = new URL('https://api.example.com/');

describe('JWT in workerd', () => {
  it('verifies RS256, ES256 and EdDSA against a local JWKS and refuses a tampered token', async () => {
    const v = compileJwt({
      optional: false,
      providers: [JwtProvider.parse({ name: 'idp', issuer: ISSUER, localJWKS: { keys: Object.values(keys).map((k) => k.jwk) } })],
    });
    for (const kid of ['rs', 'es', 'ed']) expect((await v.authenticate(bearer(await sign(kid)), url, { now: NOW })).status, kid).toBe('ok');
    const [h, p, s] = (await sign('es')).split('.');
    expect((await v.authenticate(bearer(`${h}.${p}.${s!.slice(0, -4)}AAAA`), url, { now: NOW })).status).toBe('invalid');
    expect((await v.authenticate(bearer(await sign('es', { exp: Math.floor(NOW / 1000) - 120 })), url, { now: NOW })).status).toBe(
      'invalid',
    );
  });

  it('fetches a remote JWKS once through the given fetch, and the composed stage forwards the claims', async () => {
    let fetches = 0;
    const registry = createJwksRegistry({
      fetch: async () => {
        fetches++;
        return Response.json({ keys: [keys.es!.jwk] });
      },
    });
    const policy = SecurityPolicy.parse({
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'SecurityPolicy',
      metadata: { name: 'jwt' },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api' }],
        jwt: {
          providers: [
            {
              name: 'idp',
              issuer: ISSUER,
              remoteJWKS: { uri: 'https://idp.example.com/jwks' },
              claimToHeaders: [{ claim: 'sub', header: 'x-user' }],
            },
          ],
        },
      },
    });
    const stage = compileSecurityPolicy(policy, { jwks: registry });
    const token = await sign('es');
    for (let i = 0; i < 3; i++) {
      const headers = bearer(token);
      const o = await stage({ method: 'GET', url, headers, clientIp: '203.0.113.1' }, { now: NOW, requestId: `r${i}` });
      if (o.action !== 'continue') throw new Error(o.reason);
      applyToUpstream(headers, url, o.decision);
      expect(headers.get('x-user')).toBe('alice');
    }
    expect(fetches).toBe(1);
    const denied = await stage({ method: 'GET', url, headers: new Headers(), clientIp: '203.0.113.1' }, { now: NOW, requestId: 'r9' });
    expect(denied.action === 'respond' && denied.response.status).toBe(401);
  });
});
