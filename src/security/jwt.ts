/** JWT authentication (Envoy jwt_authn, Envoy Gateway `jwt`) with jose on WebCrypto: asymmetric algorithms only. */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { parseDuration } from '../schema/duration.js';
import { JWT_ALGORITHMS, type JwtProvider } from '../schema/securitypolicy.js';
import { readClaim, scopesOf } from './authorization.js';
import { extractCredential, MAX_CREDENTIAL_LENGTH, type CredentialSources } from './extract.js';
import { toKeySet, type JwksRegistry, type LookupContext } from './jwks.js';

/** Envoy's default clock skew for exp/nbf. */
export const CLOCK_SKEW_SECONDS = 60;

/**
 * Verified tokens are remembered (Envoy jwt_authn's jwt_cache_config): a client sends the same token with every
 * request, and the signature check is most of a JWT route's cost. The key is the whole token, signature included, so
 * only the exact bytes that verified can hit; a hit also needs the provider's key set to be the one that verified it
 * (a JWKS refetch that drops the key ends it) and the token not expired (with the skew).
 */
export const VERIFIED_CACHE_ENTRIES = 1_000;
const CACHEABLE_TOKEN_LENGTH = 4_096;

interface Verified {
  result: Extract<JwtResult, { status: 'ok' }>;
  provider: string;
  getKey: JWTVerifyGetKey;
  /** Epoch ms: exp plus the skew. */
  until: number;
  /** The token's kid, for the key lookup that proves the key set has not changed since. */
  kid: string | undefined;
}

export type JwtResult =
  | { status: 'absent' }
  | { status: 'invalid'; reason: string; expired?: boolean }
  | { status: 'unavailable'; reason: string; provider: string }
  | {
      status: 'ok';
      provider: string;
      claims: JWTPayload;
      scopes: string[];
      /** claimToHeaders for the upstream request. */
      headers: [string, string][];
    };

export interface CompiledJwt {
  optional: boolean;
  /** Lowercase claimToHeaders targets: removed from every request, so a client cannot send them itself. */
  claimHeaders: string[];
  authenticate(headers: Headers, url: URL, ctx: LookupContext): Promise<JwtResult>;
}

export interface JwtDeps {
  /** The isolate's JWKS cache: outlives table versions (required when a provider has remoteJWKS). */
  jwks?: JwksRegistry | undefined;
}

const ALGORITHMS: readonly string[] = JWT_ALGORITHMS;
// Compact JWS: three base64url segments. Anything else is refused before jose or a JWKS fetch sees it.
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Header values travel as bytes: visible ASCII, space and tab only (no CR/LF, nothing a Headers object would reject).
const SAFE_HEADER_VALUE = /^[\t\x20-\x7e]{0,4096}$/;

interface Provider {
  name: string;
  issuer?: string | undefined;
  sources: CredentialSources;
  keys: (kid: string | undefined, ctx: LookupContext) => Promise<{ ok: true; getKey: JWTVerifyGetKey } | { ok: false; reason: string }>;
  verifyOptions: { issuer?: string; audience?: string[] };
  claimToHeaders: { claim: string; header: string }[];
}

const DEFAULT_SOURCES: CredentialSources = { headers: [{ name: 'authorization', valuePrefix: 'Bearer ' }] };

function headerValue(v: unknown): string | undefined {
  const one = (x: unknown) => (typeof x === 'string' ? x : typeof x === 'number' || typeof x === 'boolean' ? String(x) : undefined);
  const s = Array.isArray(v) ? (v.every((x) => one(x) !== undefined) ? v.map(one).join(',') : undefined) : one(v);
  return s !== undefined && SAFE_HEADER_VALUE.test(s) ? s : undefined;
}

function compileProvider(p: JwtProvider, deps: JwtDeps): Provider {
  let keys: Provider['keys'];
  if (p.localJWKS !== undefined) {
    const set = toKeySet(typeof p.localJWKS === 'string' ? JSON.parse(p.localJWKS) : p.localJWKS);
    if (!set) throw new Error(`jwt provider ${p.name}: localJWKS has no usable public signing key`);
    keys = async () => ({ ok: true, getKey: set.getKey });
  } else {
    const remote = p.remoteJWKS!;
    const registry = deps.jwks;
    if (!registry) throw new Error(`jwt provider ${p.name}: remoteJWKS needs the isolate's JWKS registry`);
    const cacheMs = parseDuration(remote.cacheDuration);
    keys = async (kid, ctx) => {
      const r = await registry.lookup(remote.uri, cacheMs, kid, ctx);
      return r.ok ? { ok: true, getKey: r.keys.getKey } : r;
    };
  }
  const from = p.extractFrom;
  const sources = from && (from.headers?.length || from.cookies?.length || from.params?.length) ? from : DEFAULT_SOURCES;
  return {
    name: p.name,
    issuer: p.issuer,
    sources,
    keys,
    verifyOptions: { ...(p.issuer !== undefined ? { issuer: p.issuer } : {}), ...(p.audiences?.length ? { audience: p.audiences } : {}) },
    claimToHeaders: (p.claimToHeaders ?? []).map((c) => ({ claim: c.claim, header: c.header.toLowerCase() })),
  };
}

function describe(err: unknown): { reason: string; expired?: boolean } {
  if (err instanceof errors.JWTExpired) return { reason: 'token expired', expired: true };
  if (err instanceof errors.JWTClaimValidationFailed)
    return { reason: `claim "${err.claim}" ${err.reason === 'check_failed' ? 'check failed' : err.reason}` };
  if (err instanceof errors.JWKSNoMatchingKey) return { reason: 'no key in the JWKS matches the token' };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { reason: 'signature verification failed' };
  if (err instanceof errors.JOSEAlgNotAllowed) return { reason: 'algorithm not allowed' };
  if (err instanceof errors.JOSEError) return { reason: `malformed token (${err.code})` };
  return { reason: 'malformed token' };
}

export function compileJwt(spec: { providers: JwtProvider[]; optional: boolean }, deps: JwtDeps = {}): CompiledJwt {
  const providers = spec.providers.map((p) => compileProvider(p, deps));
  const claimHeaders = [...new Set(providers.flatMap((p) => p.claimToHeaders.map((c) => c.header)))];
  // Per compiled policy, so a new table version (other issuer, audiences, keys) starts empty.
  const verified = new Map<string, Verified>();

  return {
    optional: spec.optional,
    claimHeaders,
    async authenticate(headers, url, ctx) {
      // Each provider reads its own locations; a request may carry a token for only one of them.
      const found = providers.flatMap((p) => {
        const c = extractCredential(p.sources, headers, url);
        return c ? [{ p, token: c.value }] : [];
      });
      if (!found.length) return { status: 'absent' };

      let invalid: { reason: string; expired?: boolean } | undefined;
      let unavailable: { reason: string; provider: string } | undefined;
      for (const { p, token } of found) {
        // A token verified before (the same string, so the same header, issuer and signature) skips the decoding:
        // only its expiry and the provider's current key set are checked again.
        const seen = verified.get(token);
        if (seen !== undefined && seen.provider === p.name && ctx.now < seen.until) {
          const current = await p.keys(seen.kid, ctx);
          if (current.ok && current.getKey === seen.getKey) return seen.result;
        }
        if (token.length > MAX_CREDENTIAL_LENGTH || !COMPACT.test(token)) {
          invalid ??= { reason: 'malformed token' };
          continue;
        }
        let kid: string | undefined;
        let iss: unknown;
        try {
          const header = decodeProtectedHeader(token);
          if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) {
            invalid ??= { reason: `algorithm ${JSON.stringify(header.alg ?? null)} not allowed` };
            continue;
          }
          if (header.kid !== undefined && typeof header.kid !== 'string') throw new Error('kid');
          kid = header.kid;
          iss = decodeJwt(token).iss;
        } catch {
          invalid ??= { reason: 'malformed token' };
          continue;
        }
        // Before any key lookup: a token from another issuer never costs a JWKS fetch.
        if (p.issuer !== undefined && iss !== p.issuer) {
          invalid ??= { reason: 'issuer mismatch' };
          continue;
        }
        const keys = await p.keys(kid, ctx);
        if (!keys.ok) {
          unavailable ??= { reason: keys.reason, provider: p.name };
          continue;
        }
        const hit = verified.get(token);
        if (hit !== undefined) {
          if (hit.provider === p.name && hit.getKey === keys.getKey && ctx.now < hit.until) return hit.result;
          verified.delete(token);
        }
        try {
          const { payload } = await jwtVerify(token, keys.getKey, {
            algorithms: [...ALGORITHMS],
            ...p.verifyOptions,
            clockTolerance: CLOCK_SKEW_SECONDS,
            currentDate: new Date(ctx.now),
            requiredClaims: ['exp'],
          });
          const out: [string, string][] = [];
          for (const c of p.claimToHeaders) {
            const v = headerValue(readClaim(payload, c.claim));
            if (v !== undefined) out.push([c.header, v]);
          }
          const result = { status: 'ok' as const, provider: p.name, claims: payload, scopes: scopesOf(payload), headers: out };
          if (token.length <= CACHEABLE_TOKEN_LENGTH) {
            if (verified.size >= VERIFIED_CACHE_ENTRIES) verified.delete(verified.keys().next().value!);
            verified.set(token, { result, provider: p.name, getKey: keys.getKey, until: (payload.exp! + CLOCK_SKEW_SECONDS) * 1000, kid });
          }
          return result;
        } catch (err) {
          invalid ??= describe(err);
        }
      }
      if (unavailable) return { status: 'unavailable', ...unavailable };
      return { status: 'invalid', ...(invalid ?? { reason: 'invalid token' }) };
    },
  };
}
