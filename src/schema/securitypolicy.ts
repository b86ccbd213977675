/** The Edgeway SecurityPolicy (edgeway.dev/v1alpha1), in the shape of Envoy Gateway's: JWT, API keys, authorization, CORS. */
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { Duration, parseDuration } from './duration.js';
import { HeaderName, HTTPMethod, Metadata } from './common.js';
import { RateLimitPolicy } from './ratelimitpolicy.js';

/**
 * True since the gateway runs the security stage (src/app/stages/security.ts). A build without it must set this to
 * false: a SecurityPolicy that validates but is not enforced would leave a route looking protected while it is open,
 * so reference checks then refuse to publish one (see references.ts).
 */
export const SECURITY_POLICY_ENFORCED: boolean = true;

/** Asymmetric JWS algorithms only: never `none`, never HS* (an HMAC "secret" could be a public key's bytes). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/;

/** https, or plain http to a loopback host (a local identity provider in dev): never plain http across a network. */
const JwksUri = z
  .string()
  .max(2048)
  .superRefine((v, ctx) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute https:// URL' });
      return;
    }
    if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
    if (u.protocol === 'https:') return;
    if (u.protocol === 'http:' && LOOPBACK_HOST.test(u.hostname)) return;
    ctx.addIssue({ code: 'custom', message: 'must be https:// (plain http only to a loopback host, for local development)' });
  });

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** A public signing key. Private members and symmetric keys are refused: a route file is not a place for secrets. */
export const PublicJwk = z
  .object({
    kty: z.enum(['RSA', 'EC', 'OKP']),
    kid: z.string().min(1).max(256).optional(),
    alg: z.enum(JWT_ALGORITHMS).optional(),
    use: z.literal('sig').optional(),
  })
  .loose()
  .superRefine((k, ctx) => {
    for (const m of PRIVATE_JWK_MEMBERS)
      if (m in k) ctx.addIssue({ code: 'custom', path: [m], message: `"${m}" is private key material: publish only the public key` });
    const need = k.kty === 'RSA' ? ['n', 'e'] : ['crv', 'x', ...(k.kty === 'EC' ? ['y'] : [])];
    for (const m of need) if (typeof k[m] !== 'string') ctx.addIssue({ code: 'custom', path: [m], message: `required for kty ${k.kty}` });
  });

export const JwkSet = z.strictObject({ keys: z.array(PublicJwk).min(1).max(64) });
export type JwkSet = z.infer<typeof JwkSet>;

/** Inline JWKS as JSON text (as Envoy Gateway's localJWKS.inline) or as an object. */
const LocalJwks = z.union([
  z
    .string()
    .max(65_536)
    .superRefine((text, ctx) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JWKS as JSON text ({"keys":[...]})' });
        return;
      }
      const r = JwkSet.safeParse(parsed);
      if (!r.success)
        for (const i of r.error.issues)
          ctx.addIssue({ code: 'custom', message: `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}` });
    }),
  JwkSet,
]);

const HeaderSource = z.strictObject({
  name: HeaderName,
  valuePrefix: z.string().max(64).optional().describe('Text before the credential, e.g. "Bearer " (compared case-insensitively).'),
});
const CookieName = z.string().min(1).max(256).regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a valid cookie name');
const ParamName = z.string().min(1).max(256);

const JwtExtractFrom = z
  .strictObject({
    headers: z.array(HeaderSource).max(4).optional(),
    cookies: z.array(CookieName).max(4).optional(),
    params: z.array(ParamName).max(4).optional(),
  })
  .describe('Where the token is read; default: the Authorization header with the "Bearer " prefix.');

export const JwtProvider = z
  .strictObject({
    name: z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'must use letters, digits, ".", "_" or "-"'),
    issuer: z.string().min(1).max(2048).optional().describe('Must equal the token\'s "iss" when set.'),
    audiences: z.array(z.string().min(1).max(2048)).max(16).optional().describe('The token\'s "aud" must contain one of them.'),
    remoteJWKS: z
      .strictObject({
        uri: JwksUri,
        cacheDuration: Duration.refine((d) => {
          const ms = parseDuration(d);
          return ms >= 60_000 && ms <= 86_400_000;
        }, 'must be between 1m and 24h')
          .default('5m')
          .describe('How long fetched keys are used; they are refreshed in the background before this runs out.'),
      })
      .optional(),
    localJWKS: LocalJwks.optional(),
    extractFrom: JwtExtractFrom.optional(),
    claimToHeaders: z
      .array(
        z.strictObject({
          claim: z.string().min(1).max(256).describe('Claim name; "a.b" reads a nested claim.'),
          header: HeaderName,
        }),
      )
      .max(16)
      .optional(),
  })
  .superRefine((p, ctx) => {
    if (!p.remoteJWKS === !p.localJWKS) ctx.addIssue({ code: 'custom', message: 'set exactly one of remoteJWKS and localJWKS' });
  });

export const JwtAuthentication = z
  .strictObject({
    providers: z.array(JwtProvider).min(1).max(4),
    optional: z
      .boolean()
      .default(false)
      .describe('A request without a token passes on (a token that is present must still be valid); authorization can then decide.'),
  })
  .superRefine((j, ctx) => {
    const seen = new Set<string>();
    j.providers.forEach((p, i) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['providers', i, 'name'], message: `duplicate provider "${p.name}"` });
      seen.add(p.name);
    });
  });

export const KEY_HASH_RE = /^sha256:[0-9a-f]{64}$/;

export const ApiKeyAuthentication = z
  .strictObject({
    consumers: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(128).regex(/^[A-Za-z0-9._@-]+$/, 'must use letters, digits, ".", "_", "@" or "-"'),
          keyHashes: z
            .array(z.string().regex(KEY_HASH_RE, 'must be "sha256:" and 64 lowercase hex digits (`edgeway hash-key` prints it); never the key itself'))
            .min(1)
            .max(4)
            .describe('SHA-256 of each accepted key; two while a key rotates.'),
        }),
      )
      .min(1)
      .max(1000),
    extractFrom: z
      .strictObject({
        headers: z.array(HeaderName).max(4).optional(),
        params: z.array(ParamName).max(4).optional(),
        cookies: z.array(CookieName).max(4).optional(),
      })
      .optional()
      .describe('Where the key is read; default: the x-api-key header. It is removed before the upstream.'),
    forwardConsumerHeader: HeaderName.default('x-edgeway-consumer').describe(
      'Request header that carries the consumer name to the upstream (a client-sent one is always removed).',
    ),
    optional: z.boolean().default(false).describe('A request without a key passes on; a wrong key is still refused.'),
  })
  .superRefine((a, ctx) => {
    const names = new Set<string>();
    const hashes = new Map<string, string>();
    a.consumers.forEach((c, ci) => {
      if (names.has(c.name)) ctx.addIssue({ code: 'custom', path: ['consumers', ci, 'name'], message: `duplicate consumer "${c.name}"` });
      names.add(c.name);
      c.keyHashes.forEach((h, hi) => {
        const owner = hashes.get(h);
        if (owner !== undefined)
          ctx.addIssue({ code: 'custom', path: ['consumers', ci, 'keyHashes', hi], message: `key hash already belongs to consumer "${owner}"` });
        else hashes.set(h, c.name);
      });
    });
  });

/** A CIDR as written in route files: IPv4 in four-part decimal (no "10.1" or hex forms), or IPv6 without a zone. */
export const Cidr = z
  .string()
  .max(64)
  .refine((v) => {
    const slash = v.indexOf('/');
    if (slash < 0 || v.includes('%')) return false;
    const addr = v.slice(0, slash);
    if (addr.includes(':')) return ipaddr.IPv6.isValidCIDR(v);
    return ipaddr.IPv4.isValidFourPartDecimal(addr) && ipaddr.IPv4.isValidCIDR(v);
  }, 'must be a CIDR such as "203.0.113.0/24" or "2001:db8::/32"');

const Principal = z
  .strictObject({
    clientCIDRs: z.array(Cidr).min(1).max(256).optional().describe('The client address (CF-Connecting-IP) is in one of them.'),
    jwt: z
      .strictObject({
        provider: z.string().min(1).max(128).optional().describe('Only tokens verified by this provider.'),
        claims: z
          .array(
            z.strictObject({
              name: z.string().min(1).max(256).describe('Claim name; "a.b" reads a nested claim.'),
              values: z.array(z.string().max(1024)).min(1).max(64).describe('The claim (or one element of it) equals one of them.'),
            }),
          )
          .max(16)
          .optional(),
        scopes: z.array(z.string().min(1).max(256)).max(16).optional().describe('Every one is in "scope" (or "scp").'),
      })
      .optional(),
    consumers: z.array(z.string().min(1).max(128)).min(1).max(1000).optional().describe('The API-key consumer is one of them.'),
  })
  .refine((p) => p.clientCIDRs !== undefined || p.jwt !== undefined || p.consumers !== undefined, 'set clientCIDRs, jwt or consumers');

export const Authorization = z.strictObject({
  defaultAction: z.enum(['Allow', 'Deny']).default('Deny').describe('When no rule matches.'),
  rules: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(128).optional(),
        action: z.enum(['Allow', 'Deny']),
        principal: Principal.describe('Every field that is set must match.'),
      }),
    )
    .max(64)
    .default([])
    .describe('The first rule whose principal matches decides.'),
});

const ORIGIN_RE = /^(\*|https?:\/\/(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?)$/;

export const Cors = z
  .strictObject({
    allowOrigins: z
      .array(
        z
          .string()
          .max(512)
          .regex(ORIGIN_RE, 'must be "*", an origin such as "https://app.example.com" (lowercase, no path) or "https://*.example.com"'),
      )
      .min(1)
      .max(64)
      .describe('"https://*.example.com" matches exactly one label ("https://a.example.com", not "https://a.b.example.com").'),
    allowMethods: z.array(z.union([HTTPMethod, z.literal('*')])).max(16).optional(),
    allowHeaders: z.array(z.union([HeaderName, z.literal('*')])).max(64).optional(),
    exposeHeaders: z.array(HeaderName).max(64).optional(),
    maxAge: Duration.refine((d) => parseDuration(d) <= 86_400_000, 'must be at most 24h')
      .optional()
      .describe('How long a browser may cache a preflight answer.'),
    allowCredentials: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (!c.allowCredentials) return;
    c.allowOrigins.forEach((o, i) => {
      if (o === '*')
        ctx.addIssue({
          code: 'custom',
          path: ['allowOrigins', i],
          message: 'allowCredentials cannot be combined with "*" (browsers refuse it, and echoing every origin would expose credentialed responses to any site): list the origins',
        });
    });
    c.exposeHeaders?.forEach((h, i) => {
      if (h === '*') ctx.addIssue({ code: 'custom', path: ['exposeHeaders', i], message: 'with allowCredentials, "*" is a header name, not a wildcard: list the headers' });
    });
  });

export const SecurityPolicy = z.strictObject({
  apiVersion: z.literal('edgeway.dev/v1alpha1'),
  kind: z.literal('SecurityPolicy'),
  metadata: Metadata,
  spec: z
    .strictObject({
      targetRefs: RateLimitPolicy.shape.spec.shape.targetRefs,
      cors: Cors.optional(),
      jwt: JwtAuthentication.optional(),
      apiKeyAuth: ApiKeyAuthentication.optional(),
      authorization: Authorization.optional(),
    })
    .superRefine((s, ctx) => {
      if (!s.cors && !s.jwt && !s.apiKeyAuth && !s.authorization)
        ctx.addIssue({ code: 'custom', message: 'set at least one of cors, jwt, apiKeyAuth and authorization' });
      const providers = new Set(s.jwt?.providers.map((p) => p.name) ?? []);
      s.authorization?.rules.forEach((r, ri) => {
        const p = r.principal.jwt?.provider;
        if (p !== undefined && !providers.has(p))
          ctx.addIssue({ code: 'custom', path: ['authorization', 'rules', ri, 'principal', 'jwt', 'provider'], message: `no jwt provider named "${p}" in this policy` });
        if (r.principal.jwt && !s.jwt)
          ctx.addIssue({ code: 'custom', path: ['authorization', 'rules', ri, 'principal', 'jwt'], message: 'needs jwt authentication in this policy' });
        if (r.principal.consumers && !s.apiKeyAuth)
          ctx.addIssue({ code: 'custom', path: ['authorization', 'rules', ri, 'principal', 'consumers'], message: 'needs apiKeyAuth in this policy' });
        else if (s.apiKeyAuth) {
          const known = new Set(s.apiKeyAuth.consumers.map((c) => c.name));
          r.principal.consumers?.forEach((c, ci) => {
            if (!known.has(c))
              ctx.addIssue({ code: 'custom', path: ['authorization', 'rules', ri, 'principal', 'consumers', ci], message: `no consumer named "${c}" in apiKeyAuth` });
          });
        }
      });
    }),
});

export type SecurityPolicy = z.infer<typeof SecurityPolicy>;
export type JwtProvider = z.infer<typeof JwtProvider>;
export type ApiKeyAuthentication = z.infer<typeof ApiKeyAuthentication>;
export type Authorization = z.infer<typeof Authorization>;
export type Cors = z.infer<typeof Cors>;
