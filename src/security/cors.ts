/** CORS at the edge (Fetch standard, Envoy Gateway `cors`): preflights answered here, actual responses decorated. */
import { parseDuration } from '../schema/duration.js';
import type { Cors } from '../schema/securitypolicy.js';

export interface CorsDecoration {
  /** Access-Control-* headers for the response; empty when the origin is not allowed. */
  headers: [string, string][];
  /** Request headers the answer depends on: appended to Vary. */
  vary: string[];
}

export interface CompiledCors {
  /** `OPTIONS` with `Origin` and `Access-Control-Request-Method`. */
  isPreflight(method: string, headers: Headers): boolean;
  /** The complete answer to a preflight: 204, never forwarded. A disallowed origin gets no Access-Control-* headers. */
  preflight(headers: Headers): Response;
  /** Headers for an actual (non-preflight) response, including refusals, so browsers can read them. */
  decorate(headers: Headers): CorsDecoration;
  /** Whether this origin is allowed (exposed for tests and logs). */
  allows(origin: string): boolean;
}

// One DNS label: what "*" stands for in "https://*.example.com". Linear: no nested quantifiers.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_ORIGIN = 1024;

interface Wildcard {
  prefix: string;
  suffix: string;
}

/** Compiled origin list: a set for exact origins, prefix/suffix pairs for wildcards, matched without regexes over input. */
export function compileOrigins(patterns: readonly string[]): (origin: string) => boolean {
  let any = false;
  const exact = new Set<string>();
  const wild: Wildcard[] = [];
  for (const p of patterns) {
    if (p === '*') any = true;
    else if (p.includes('://*.')) {
      const at = p.indexOf('://*.');
      wild.push({ prefix: p.slice(0, at + 3).toLowerCase(), suffix: p.slice(at + 4).toLowerCase() });
    } else exact.add(p.toLowerCase());
  }
  return (origin) => {
    if (any) return true;
    if (origin.length > MAX_ORIGIN) return false;
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    for (const w of wild) {
      if (o.length <= w.prefix.length + w.suffix.length || !o.startsWith(w.prefix) || !o.endsWith(w.suffix)) continue;
      if (LABEL.test(o.slice(w.prefix.length, o.length - w.suffix.length))) return true;
    }
    return false;
  };
}

export function compileCors(cors: Cors): CompiledCors {
  const allows = compileOrigins(cors.allowOrigins);
  const anyOrigin = cors.allowOrigins.includes('*');
  const credentials = cors.allowCredentials;
  const methods = cors.allowMethods ?? [];
  const allowHeaders = cors.allowHeaders ?? [];
  const anyMethod = methods.includes('*');
  const anyHeader = allowHeaders.includes('*');
  const maxAge = cors.maxAge === undefined ? undefined : String(Math.floor(parseDuration(cors.maxAge) / 1000));
  const expose = cors.exposeHeaders?.length ? cors.exposeHeaders.join(', ') : undefined;

  /** Allow-Origin and Allow-Credentials for an allowed origin: "*" only when every origin is allowed without credentials. */
  const originHeaders = (origin: string): [string, string][] => {
    const out: [string, string][] = [['access-control-allow-origin', anyOrigin && !credentials ? '*' : origin]];
    if (credentials) out.push(['access-control-allow-credentials', 'true']);
    return out;
  };

  return {
    allows,
    isPreflight: (method, headers) => method === 'OPTIONS' && headers.has('origin') && headers.has('access-control-request-method'),
    preflight(headers) {
      const origin = headers.get('origin') ?? '';
      const out = new Headers();
      out.set('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
      if (origin && allows(origin)) {
        for (const [k, v] of originHeaders(origin)) out.set(k, v);
        const requestedMethod = headers.get('access-control-request-method') ?? '';
        const requestedHeaders = headers.get('access-control-request-headers') ?? '';
        // "*" is a literal name in a credentialed answer (Fetch standard), so echo what was asked instead.
        if (anyMethod) out.set('access-control-allow-methods', credentials ? requestedMethod : '*');
        else if (methods.length) out.set('access-control-allow-methods', methods.join(', '));
        if (anyHeader) {
          if (!credentials) out.set('access-control-allow-headers', '*');
          else if (requestedHeaders) out.set('access-control-allow-headers', requestedHeaders);
        } else if (allowHeaders.length) out.set('access-control-allow-headers', allowHeaders.join(', '));
        if (maxAge !== undefined) out.set('access-control-max-age', maxAge);
      }
      return new Response(null, { status: 204, headers: out });
    },
    decorate(headers) {
      const origin = headers.get('origin');
      if (!origin || !allows(origin)) return { headers: [], vary: ['Origin'] };
      const out = originHeaders(origin);
      if (expose) out.push(['access-control-expose-headers', expose]);
      return { headers: out, vary: ['Origin'] };
    },
  };
}

/** Sets the decoration on mutable response headers; Vary is appended to, never replaced. */
export function applyCorsDecoration(headers: Headers, d: CorsDecoration): void {
  for (const [k, v] of d.headers) headers.set(k, v);
  if (!d.vary.length) return;
  const current = headers.get('vary');
  if (current?.trim() === '*') return;
  const have = new Set(
    (current ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const add = d.vary.filter((v) => !have.has(v.toLowerCase()));
  if (add.length) headers.set('vary', current ? `${current}, ${add.join(', ')}` : add.join(', '));
}
