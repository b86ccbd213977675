/** SecurityPolicy variants of the production-like target route: a JWT (ES256, local JWKS, scope rule) or an API key. */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { SecurityPolicy } from '../../src/schema/securitypolicy.js';
import type { Snapshot } from '../../src/schema/snapshot.js';
import { TARGET_NAMESPACE, TARGET_ROUTE } from './snapshot.js';

export type SecurityVariant = 'jwt' | 'apikey';

const ISSUER = 'https://idp.bench.test';
const AUDIENCE = 'bench-api';
const API_KEY = 'bench-api-key-0123456789abcdef';
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** One key pair per process: the token is signed once and sent by every wrk request. */
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...keys.publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'ES256', use: 'sig' };

function token(): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'ES256', kid: 'bench-1', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'bench-user', scope: 'read write', iat: now, exp: now + 86_400 }));
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64url(sig)}`;
}
const JWT = token();

function policy(variant: SecurityVariant) {
  const spec =
    variant === 'jwt'
      ? {
          jwt: {
            providers: [
              {
                name: 'idp',
                issuer: ISSUER,
                audiences: [AUDIENCE],
                localJWKS: { keys: [jwk] },
                claimToHeaders: [{ claim: 'sub', header: 'x-user' }],
              },
            ],
          },
          authorization: { defaultAction: 'Deny', rules: [{ name: 'readers', action: 'Allow', principal: { jwt: { scopes: ['read'] } } }] },
        }
      : {
          apiKeyAuth: {
            consumers: [
              ...Array.from({ length: 99 }, (_, i) => ({
                name: `filler-${i}`,
                keyHashes: [`sha256:${createHash('sha256').update(`k${i}`).digest('hex')}`],
              })),
              { name: 'bench', keyHashes: [`sha256:${createHash('sha256').update(API_KEY).digest('hex')}`] },
            ],
          },
        };
  return SecurityPolicy.parse({
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'SecurityPolicy',
    metadata: { name: `bench-${variant}`, namespace: TARGET_NAMESPACE },
    spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: TARGET_ROUTE }], ...spec },
  });
}

/** The snapshot with the variant's SecurityPolicy on the target route. */
export function withSecurity(snapshot: Snapshot, variant: SecurityVariant): Snapshot {
  return { ...snapshot, securityPolicies: [...snapshot.securityPolicies, policy(variant)] };
}

/** The request header (as wrk's -H line) that passes the variant's policy. */
export function securityHeader(variant: SecurityVariant): string {
  return variant === 'jwt' ? `Authorization: Bearer ${JWT}` : `X-API-Key: ${API_KEY}`;
}
