/**
 * One SecurityPolicy as a request stage, in Envoy's filter order: CORS preflight → IP → authentication (JWT, then API
 * key) → authorization. Compiled once per table version; the result either answers the request or says what the
 * upstream request must gain and lose.
 */
import type { SecurityPolicy } from '../schema.js';
import { objectKey, resourceKey } from '../schema/keys.js';
import { compileApiKeyAuth, type CompiledApiKeyAuth } from './apikey.js';
import { compileAuthorization, type CompiledAuthorization } from './authorization.js';
import { applyCorsDecoration, compileCors, type CompiledCors, type CorsDecoration } from './cors.js';
import { withoutCookies } from './extract.js';
import { parseClientAddress } from './ip.js';
import type { JwksRegistry } from './jwks.js';
import { compileJwt, type CompiledJwt } from './jwt.js';
import { refusalResponse, SECURITY_REFUSALS, type SecurityRefusal } from './refusal.js';

export interface SecurityDeps {
  /** The isolate's JWKS registry (createJwksRegistry): created once per isolate, not per table version. */
  jwks?: JwksRegistry | undefined;
  /** Called when a policy cannot be compiled; its routes then answer 503 (fail closed). */
  log?: ((line: Record<string, unknown>) => void) | undefined;
}

export interface SecurityRequest {
  method: string;
  url: URL;
  headers: Headers;
  /** CF-Connecting-IP as received (the only address trusted). */
  clientIp: string | null;
}

export interface SecurityContext {
  /** Epoch milliseconds. */
  now: number;
  requestId: string;
  waitUntil?: ((p: Promise<unknown>) => void) | undefined;
}

export interface Identity {
  consumer?: string;
  jwt?: { provider: string; subject?: string; issuer?: string; claims: Record<string, unknown>; scopes: string[] };
}

/** What the gateway applies when the request may go on (applyToUpstream, decorateResponse). */
export interface SecurityDecision {
  policy: string;
  identity: Identity;
  /** `consumer:<name>` or `jwt:<provider>:<sub>`: the key a per-consumer rate limit counts under. */
  principal?: string;
  /** Lowercase names, removed before headersToSet is applied (client-sent identity headers, credentials). */
  headersToRemove: string[];
  headersToSet: [string, string][];
  cookiesToRemove: string[];
  paramsToRemove: string[];
  /** CORS headers for the upstream's response. */
  cors?: CorsDecoration;
}

export type SecurityOutcome =
  | { action: 'continue'; decision: SecurityDecision }
  | {
      action: 'respond';
      response: Response;
      code: SecurityRefusal | 'cors_preflight';
      /** For the log line; never holds a credential. */
      reason: string;
      log: Record<string, unknown>;
    };

export type CompiledSecurityPolicy = (req: SecurityRequest, ctx: SecurityContext) => Promise<SecurityOutcome>;

const REALM = 'realm="edgeway"';

/** `consumer:<name>` for an API key, else `jwt:<provider>:<sub>`; undefined for an anonymous request. */
export function principalOf(identity: Identity): string | undefined {
  if (identity.consumer !== undefined) return `consumer:${identity.consumer}`;
  if (identity.jwt?.subject !== undefined) return `jwt:${identity.jwt.provider}:${identity.jwt.subject}`;
  return undefined;
}

interface Parts {
  id: string;
  cors?: CompiledCors;
  jwt?: CompiledJwt;
  apiKey?: CompiledApiKeyAuth;
  authz?: CompiledAuthorization;
}

function compileParts(p: SecurityPolicy, deps: SecurityDeps): Parts {
  const s = p.spec;
  return {
    id: resourceKey(p),
    ...(s.cors ? { cors: compileCors(s.cors) } : {}),
    ...(s.jwt ? { jwt: compileJwt(s.jwt, deps) } : {}),
    ...(s.apiKeyAuth ? { apiKey: compileApiKeyAuth(s.apiKeyAuth) } : {}),
    ...(s.authorization ? { authz: compileAuthorization(s.authorization) } : {}),
  };
}

/** Policies must already be schema-validated (zod defaults applied). */
export function compileSecurityPolicy(p: SecurityPolicy, deps: SecurityDeps = {}): CompiledSecurityPolicy {
  let parts: Parts;
  try {
    parts = compileParts(p, deps);
  } catch (err) {
    const policy = resourceKey(p);
    deps.log?.({ level: 'error', msg: 'security.compile_failed', policy, error: (err as Error).message });
    return async (_req, ctx) => ({
      action: 'respond',
      response: refusalResponse('auth_unavailable', ctx.requestId),
      code: 'auth_unavailable',
      reason: 'policy could not be compiled',
      log: { msg: 'security.refused', policy, code: 'auth_unavailable', reason: 'policy could not be compiled' },
    });
  }
  const { id, cors, jwt, apiKey, authz } = parts;

  // Removed from every request whatever happens: a client must not be able to send identity headers of its own.
  const alwaysRemove = [...new Set([...(jwt?.claimHeaders ?? []), ...(apiKey ? [apiKey.consumerHeader] : [])])];
  const keyHeaders = apiKey?.sources.headers?.map((h) => h.name.toLowerCase()) ?? [];
  const keyCookies = apiKey?.sources.cookies ?? [];
  const keyParams = apiKey?.sources.params ?? [];

  return async (req, ctx) => {
    if (cors?.isPreflight(req.method, req.headers)) {
      const origin = req.headers.get('origin') ?? '';
      const allowed = cors.allows(origin);
      return {
        action: 'respond',
        response: cors.preflight(req.headers),
        code: 'cors_preflight',
        reason: allowed ? 'preflight answered' : 'preflight from a disallowed origin',
        log: { msg: 'security.cors_preflight', policy: id, allowed },
      };
    }
    const corsDecoration = cors?.decorate(req.headers);
    const refuse = (
      code: SecurityRefusal,
      reason: string,
      extra: Record<string, unknown> = {},
      wwwAuthenticate?: string,
    ): SecurityOutcome => {
      const response = refusalResponse(code, ctx.requestId, wwwAuthenticate ? [['www-authenticate', wwwAuthenticate]] : []);
      if (corsDecoration) applyCorsDecoration(response.headers, corsDecoration);
      return {
        action: 'respond',
        response,
        code,
        reason,
        log: { msg: 'security.refused', policy: id, code, status: SECURITY_REFUSALS[code].status, reason, ...extra },
      };
    };

    // IP: before any credential is looked at, refuse what no credential could make allowed.
    const clientAddress = parseClientAddress(req.clientIp);
    if (authz) {
      const pre = authz.precheck(clientAddress);
      if (pre.decided)
        return refuse(
          'ip_denied',
          pre.unknownAddress ? 'client address unknown' : pre.rule ? `rule ${pre.rule}` : 'no rule allows this address',
          pre.rule ? { rule: pre.rule } : {},
        );
    }

    const identity: Identity = {};
    const headersToSet: [string, string][] = [];

    if (jwt) {
      const r = await jwt.authenticate(req.headers, req.url, ctx);
      if (r.status === 'absent') {
        if (!jwt.optional) return refuse('credentials_missing', 'no token', {}, `Bearer ${REALM}`);
      } else if (r.status === 'invalid') {
        const description = r.expired ? 'The access token expired' : 'The access token is invalid';
        return refuse(
          r.expired ? 'token_expired' : 'token_invalid',
          r.reason,
          {},
          `Bearer ${REALM}, error="invalid_token", error_description="${description}"`,
        );
      } else if (r.status === 'unavailable') {
        return refuse('auth_unavailable', r.reason, { provider: r.provider });
      } else {
        identity.jwt = {
          provider: r.provider,
          claims: r.claims,
          scopes: r.scopes,
          ...(typeof r.claims.sub === 'string' ? { subject: r.claims.sub } : {}),
          ...(typeof r.claims.iss === 'string' ? { issuer: r.claims.iss } : {}),
        };
        headersToSet.push(...r.headers);
      }
    }

    if (apiKey) {
      const r = await apiKey.authenticate(req.headers, req.url);
      if (r.status === 'absent') {
        if (!apiKey.optional) return refuse('credentials_missing', 'no api key', {}, `ApiKey ${REALM}`);
      } else if (r.status === 'invalid') {
        return refuse('api_key_invalid', r.reason, {}, `ApiKey ${REALM}`);
      } else {
        identity.consumer = r.consumer;
        headersToSet.push([apiKey.consumerHeader, r.consumer]);
      }
    }

    if (authz) {
      const d = authz.decide({ clientAddress, jwt: identity.jwt, consumer: identity.consumer });
      if (!d.allowed)
        return refuse('forbidden', d.rule ? `rule ${d.rule}` : 'defaultAction Deny', {
          ...(d.rule ? { rule: d.rule } : {}),
          ...(identity.consumer ? { consumer: identity.consumer } : {}),
          ...(identity.jwt ? { provider: identity.jwt.provider } : {}),
        });
    }

    const principal = principalOf(identity);
    return {
      action: 'continue',
      decision: {
        policy: id,
        identity,
        ...(principal !== undefined ? { principal } : {}),
        headersToRemove: [...alwaysRemove, ...keyHeaders],
        headersToSet,
        cookiesToRemove: keyCookies,
        paramsToRemove: keyParams,
        ...(corsDecoration ? { cors: corsDecoration } : {}),
      },
    };
  };
}

/** The upstream request's headers and URL after the decision: credentials out, identity headers in. Mutates both. */
export function applyToUpstream(headers: Headers, url: URL, d: SecurityDecision): void {
  for (const h of d.headersToRemove) headers.delete(h);
  if (d.cookiesToRemove.length) {
    const cookie = headers.get('cookie');
    if (cookie !== null) {
      const rest = withoutCookies(cookie, new Set(d.cookiesToRemove));
      if (rest === undefined) headers.delete('cookie');
      else headers.set('cookie', rest);
    }
  }
  for (const p of d.paramsToRemove) url.searchParams.delete(p);
  for (const [k, v] of d.headersToSet) headers.set(k, v);
}

/** The response with the decision's CORS headers (a fetched response's headers are immutable, so this copies). */
export function decorateResponse(res: Response, d: SecurityDecision): Response {
  if (!d.cors) return res;
  const out = new Response(res.body, res);
  applyCorsDecoration(out.headers, d.cors);
  return out;
}

export interface SecurityIndex {
  size: number;
  /** The policy for a rule: one targeting the rule (sectionName) replaces one targeting the whole route. */
  forRule(routeKey: string, ruleName: string | undefined): CompiledSecurityPolicy | undefined;
}

/** Reference checks guarantee one policy per route and per rule; should two arrive anyway, the first listed wins. */
export function compileSecurityPolicies(policies: SecurityPolicy[], deps: SecurityDeps = {}): SecurityIndex {
  const whole = new Map<string, CompiledSecurityPolicy>();
  const sections = new Map<string, CompiledSecurityPolicy>();
  for (const p of policies) {
    const compiled = compileSecurityPolicy(p, deps);
    for (const ref of p.spec.targetRefs) {
      const routeKey = objectKey(p.metadata.namespace, ref.name);
      if (ref.sectionName === undefined) {
        if (!whole.has(routeKey)) whole.set(routeKey, compiled);
      } else {
        const k = `${routeKey}\u0000${ref.sectionName}`;
        if (!sections.has(k)) sections.set(k, compiled);
      }
    }
  }
  return {
    size: policies.length,
    forRule: (routeKey, ruleName) =>
      (ruleName !== undefined ? sections.get(`${routeKey}\u0000${ruleName}`) : undefined) ?? whole.get(routeKey),
  };
}
