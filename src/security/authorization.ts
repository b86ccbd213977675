/** Envoy Gateway `authorization`: rules in order, the first whose principal matches decides, else defaultAction. */
import type { Authorization } from '../schema.js';
import { compileCidrs, type ClientAddress } from './ip.js';

/** What authorization sees about a request once authentication has run. */
export interface Principal {
  /** undefined when CF-Connecting-IP is absent or not an address. */
  clientAddress: ClientAddress | undefined;
  jwt?: { provider: string; claims: Record<string, unknown>; scopes: readonly string[] } | undefined;
  consumer?: string | undefined;
}

export interface AuthorizationResult {
  allowed: boolean;
  /** The rule that decided (its name, else `rules[i]`); undefined when defaultAction did. */
  rule?: string;
}

export type IpPrecheck = { decided: false } | { decided: true; allowed: false; rule?: string; unknownAddress?: boolean };

export interface CompiledAuthorization {
  /**
   * The IP stage, before authentication: walks the rules as far as the client address alone decides them. It denies
   * only when the final decision is Deny whatever the credentials (a CIDR-only Deny rule matched first, or no rule
   * can match this address and defaultAction is Deny). Only policies with CIDR rules have an IP stage; there an
   * unknown address is denied: fail closed.
   */
  precheck(clientAddress: ClientAddress | undefined): IpPrecheck;
  decide(p: Principal): AuthorizationResult;
}

/** "a.b" reads claims.a.b; a claim literally named "a.b" wins (Envoy Gateway reads nested claims this way too). */
export function readClaim(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let cur: unknown = claims;
  for (const part of name.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const scalar = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** `scope` (space-separated, RFC 8693) or `scp` (a list or a string, as some providers send). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const v of [claims.scope, claims.scp]) {
    if (typeof v === 'string') out.push(...v.split(' ').filter(Boolean));
    else if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') out.push(s);
  }
  return out;
}

interface CompiledRule {
  label: string;
  allow: boolean;
  cidrs?: (a: ClientAddress) => boolean;
  jwt?: { provider?: string | undefined; claims: { name: string; values: Set<string> }[]; scopes: string[] };
  consumers?: Set<string>;
}

export function compileAuthorization(auth: Authorization): CompiledAuthorization {
  const rules: CompiledRule[] = auth.rules.map((r, i) => {
    const p = r.principal;
    return {
      label: r.name ?? `rules[${i}]`,
      allow: r.action === 'Allow',
      ...(p.clientCIDRs ? { cidrs: compileCidrs(p.clientCIDRs) } : {}),
      ...(p.jwt
        ? {
            jwt: {
              provider: p.jwt.provider,
              claims: (p.jwt.claims ?? []).map((c) => ({ name: c.name, values: new Set(c.values) })),
              scopes: p.jwt.scopes ?? [],
            },
          }
        : {}),
      ...(p.consumers ? { consumers: new Set(p.consumers) } : {}),
    };
  });
  const defaultAllow = auth.defaultAction === 'Allow';
  const usesCidrs = rules.some((r) => r.cidrs);

  const jwtMatches = (rule: NonNullable<CompiledRule['jwt']>, jwt: Principal['jwt']) => {
    if (!jwt) return false;
    if (rule.provider !== undefined && rule.provider !== jwt.provider) return false;
    for (const c of rule.claims) {
      const v = readClaim(jwt.claims, c.name);
      const candidates = Array.isArray(v) ? v.map(scalar) : [scalar(v)];
      if (!candidates.some((s) => s !== undefined && c.values.has(s))) return false;
    }
    return rule.scopes.every((s) => jwt.scopes.includes(s));
  };

  return {
    precheck(addr) {
      if (!usesCidrs) return { decided: false }; // nothing here is about addresses: authorization decides
      if (addr === undefined) return { decided: true, allowed: false, unknownAddress: true };
      for (const r of rules) {
        if (r.cidrs && !r.cidrs(addr!)) continue; // cannot match, whatever the credentials
        if (r.jwt || r.consumers) return { decided: false }; // depends on who is calling
        return r.allow ? { decided: false } : { decided: true, allowed: false, rule: r.label };
      }
      return defaultAllow ? { decided: false } : { decided: true, allowed: false };
    },
    decide(p) {
      for (const r of rules) {
        if (r.cidrs && (p.clientAddress === undefined || !r.cidrs(p.clientAddress))) continue;
        if (r.jwt && !jwtMatches(r.jwt, p.jwt)) continue;
        if (r.consumers && (p.consumer === undefined || !r.consumers.has(p.consumer))) continue;
        return { allowed: r.allow, rule: r.label };
      }
      return { allowed: defaultAllow };
    },
  };
}
