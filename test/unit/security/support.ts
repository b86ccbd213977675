/** Test keys and tokens: generated with jose per run, never committed. Clock fixed at NOW. */
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export const NOW = 1_800_000_000_000;
export const NOW_S = NOW / 1000;
export const ISSUER = 'https://idp.example.com';
export const AUDIENCE = 'api.example.com';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  spki: string;
}

export async function makeKey(kid: string, alg = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, spki: await exportSPKI(publicKey) };
}

export const jwks = (...keys: TestKey[]) => ({ keys: keys.map((k) => k.publicJwk) });

export async function sign(key: TestKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: NOW_S, exp: NOW_S + 600, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

/** A fetch that serves whatever `current()` holds and counts calls. */
export function fakeJwksServer(current: () => unknown, status = () => 200) {
  const calls: string[] = [];
  const fetch = async (url: string) => {
    calls.push(url);
    return new Response(JSON.stringify(current()), { status: status(), headers: { 'content-type': 'application/json' } });
  };
  return { fetch, calls };
}

export const headersWith = (token: string) => new Headers({ authorization: `Bearer ${token}` });
