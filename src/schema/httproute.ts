/** The Gateway API HTTPRoute (gateway.networking.k8s.io/v1) as the edge accepts it. */
import { z } from 'zod';
import { Duration, parseDuration } from './duration.js';
import { HeaderName, Hostname, HTTPMethod, Metadata, ObjectName, Namespace } from './common.js';
import { routeRegexError } from '../routing/regex.js';

/** RE2 syntax, as the gateway matches it (src/routing/regex.ts): null when usable, else why not. */
const regexIssue = (pattern: string): string | null => {
  const why = routeRegexError(pattern);
  return why === null ? null : `is not a valid RE2 regular expression (${why}); RE2 has no backreferences or lookaround`;
};

export const PathMatch = z
  .strictObject({
    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
    value: z.string().max(1024).default('/'),
  })
  .superRefine((p, ctx) => {
    if (p.type === 'RegularExpression') {
      const issue = regexIssue(p.value);
      if (issue) ctx.addIssue({ code: 'custom', path: ['value'], message: issue });
    } else if (!p.value.startsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'must start with "/"' });
    } else if (/\/\/|\/\.\.?(\/|$)|[?#]/.test(p.value)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not contain "//", "/./", "/../", "?" or "#"' });
    }
  });

const ValueMatch = (what: string) =>
  z
    .strictObject({
      type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
      name: what === 'header' ? HeaderName : z.string().min(1).max(256),
      value: z.string().max(4096),
    })
    .superRefine((m, ctx) => {
      const issue = m.type === 'RegularExpression' ? regexIssue(m.value) : null;
      if (issue) ctx.addIssue({ code: 'custom', path: ['value'], message: issue });
    });

export const HTTPRouteMatch = z.strictObject({
  path: PathMatch.optional(),
  headers: z.array(ValueMatch('header')).max(16).optional(),
  queryParams: z.array(ValueMatch('query')).max(16).optional(),
  method: HTTPMethod.optional(),
});

const HeaderValue = z.strictObject({ name: HeaderName, value: z.string().max(4096) });
export const HeaderModifier = z
  .strictObject({
    set: z.array(HeaderValue).max(16).optional(),
    add: z.array(HeaderValue).max(16).optional(),
    remove: z.array(HeaderName).max(16).optional(),
  })
  .superRefine((m, ctx) => {
    // Gateway API: one action per header name across set/add/remove.
    const seen = new Set<string>();
    const check = (name: string, path: (string | number)[]) => {
      const key = name.toLowerCase();
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path, message: `header "${name}" is modified more than once` });
      seen.add(key);
    };
    m.set?.forEach((h, i) => check(h.name, ['set', i, 'name']));
    m.add?.forEach((h, i) => check(h.name, ['add', i, 'name']));
    m.remove?.forEach((h, i) => check(h, ['remove', i]));
  });

export const PathModifier = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ReplaceFullPath'), replaceFullPath: z.string().startsWith('/') }),
  z.strictObject({ type: z.literal('ReplacePrefixMatch'), replacePrefixMatch: z.string().startsWith('/') }),
]);

export const BackendObjectRef = z.strictObject({
  group: z.string().optional().describe('Omit (or "edgeway.dev") to name an Edgeway Backend.'),
  kind: z.string().optional().describe('Omit (or "Backend") to name an Edgeway Backend.'),
  name: ObjectName,
  namespace: Namespace.optional(),
  port: z.number().int().min(1).max(65535).optional().describe('Accepted for compatibility and ignored.'),
});

export const HTTPRouteFilter = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('RequestHeaderModifier'), requestHeaderModifier: HeaderModifier }),
  z.strictObject({ type: z.literal('ResponseHeaderModifier'), responseHeaderModifier: HeaderModifier }),
  z.strictObject({
    type: z.literal('RequestRedirect'),
    requestRedirect: z.strictObject({
      scheme: z.enum(['http', 'https']).optional(),
      hostname: Hostname.optional(),
      path: PathModifier.optional(),
      port: z.number().int().min(1).max(65535).optional(),
      statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]).default(302),
    }),
  }),
  z.strictObject({
    type: z.literal('URLRewrite'),
    urlRewrite: z.strictObject({ hostname: Hostname.optional(), path: PathModifier.optional() }),
  }),
  z.strictObject({
    type: z.literal('RequestMirror'),
    requestMirror: z.strictObject({
      backendRef: BackendObjectRef,
      percent: z.number().int().min(0).max(100).optional(),
      fraction: z
        .strictObject({ numerator: z.number().int().min(0), denominator: z.number().int().min(1).default(100) })
        .refine((f) => f.numerator <= f.denominator, 'numerator must not exceed denominator')
        .optional(),
    }),
  }),
]);

export const HTTPBackendRef = BackendObjectRef.extend({
  weight: z.number().int().min(0).max(1_000_000).default(1),
  filters: z.array(HTTPRouteFilter).max(16).optional(),
});

export const HTTPRouteTimeouts = z
  .strictObject({
    request: Duration.optional().describe('Whole request, retries included. "0s" disables.'),
    backendRequest: Duration.optional().describe('One attempt to the backend. Must not exceed request.'),
  })
  .superRefine((t, ctx) => {
    if (t.request && t.backendRequest) {
      const req = parseDuration(t.request);
      if (req > 0 && parseDuration(t.backendRequest) > req)
        ctx.addIssue({ code: 'custom', path: ['backendRequest'], message: 'must not be longer than timeouts.request' });
    }
  });

export const HTTPRouteRetry = z.strictObject({
  codes: z.array(z.number().int().min(400).max(599)).optional().describe('Statuses that are retried (default 500, 502, 503, 504).'),
  attempts: z.number().int().min(1).max(10).optional().describe('Total tries including the first (default 1: no retry).'),
  backoff: Duration.optional().describe('Base of the full-jitter exponential backoff (default 25ms).'),
});

export const SessionPersistence = z.strictObject({
  sessionName: z.string().min(1).max(128).optional(),
  type: z.enum(['Cookie', 'Header']).default('Cookie'),
  absoluteTimeout: Duration.optional(),
  idleTimeout: Duration.optional(),
  cookieConfig: z.strictObject({ lifetimeType: z.enum(['Permanent', 'Session']).default('Session') }).optional(),
});

export const HTTPRouteRule = z
  .strictObject({
    name: z.string().min(1).max(253).optional().describe('Rule name: the sectionName that policies can target.'),
    matches: z
      .array(HTTPRouteMatch)
      .max(64)
      .default([{ path: { type: 'PathPrefix', value: '/' } }]),
    filters: z.array(HTTPRouteFilter).max(16).optional(),
    backendRefs: z.array(HTTPBackendRef).max(16).optional(),
    timeouts: HTTPRouteTimeouts.optional(),
    retry: HTTPRouteRetry.optional(),
    sessionPersistence: SessionPersistence.optional(),
  })
  .superRefine((rule, ctx) => {
    const filters = rule.filters ?? [];
    const usesReplacePrefix = filters.some(
      (f) =>
        (f.type === 'URLRewrite' && f.urlRewrite.path?.type === 'ReplacePrefixMatch') ||
        (f.type === 'RequestRedirect' && f.requestRedirect.path?.type === 'ReplacePrefixMatch'),
    );
    if (usesReplacePrefix) {
      const ok = rule.matches.length === 1 && (rule.matches[0]?.path?.type ?? 'PathPrefix') === 'PathPrefix';
      if (!ok)
        ctx.addIssue({ code: 'custom', path: ['filters'], message: 'ReplacePrefixMatch needs exactly one PathPrefix match in the rule' });
    }
    const redirect = filters.some((f) => f.type === 'RequestRedirect');
    if (redirect && filters.some((f) => f.type === 'URLRewrite'))
      ctx.addIssue({ code: 'custom', path: ['filters'], message: 'RequestRedirect and URLRewrite cannot be used together' });
    if (redirect && (rule.backendRefs?.length ?? 0) > 0)
      ctx.addIssue({ code: 'custom', path: ['backendRefs'], message: 'a rule with RequestRedirect must not have backendRefs' });
    for (const type of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'])
      if (filters.filter((f) => f.type === type).length > 1)
        ctx.addIssue({ code: 'custom', path: ['filters'], message: `${type} may appear only once per rule` });
  });

/** Gateway API ParentReference: checked for typos like every other object, then ignored. */
const ParentReference = z.strictObject({
  group: z.string().max(253).optional(),
  kind: z.string().max(63).optional(),
  namespace: Namespace.optional(),
  name: ObjectName,
  sectionName: z.string().max(253).optional(),
  port: z.number().int().min(1).max(65535).optional(),
});

export const HTTPRoute = z.strictObject({
  apiVersion: z.literal('gateway.networking.k8s.io/v1'),
  kind: z.literal('HTTPRoute'),
  metadata: Metadata,
  spec: z.strictObject({
    parentRefs: z.array(ParentReference).max(32).optional().describe('Accepted and ignored: the edge is the one Gateway.'),
    hostnames: z.array(Hostname).max(16).optional(),
    rules: z.array(HTTPRouteRule).min(1).max(64).default([{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }]),
  }),
});

export type HTTPRoute = z.infer<typeof HTTPRoute>;
export type HTTPRouteRule = z.infer<typeof HTTPRouteRule>;
export type HTTPRouteMatch = z.infer<typeof HTTPRouteMatch>;
export type HTTPRouteFilter = z.infer<typeof HTTPRouteFilter>;
export type HTTPBackendRef = z.infer<typeof HTTPBackendRef>;
export type HeaderModifier = z.infer<typeof HeaderModifier>;
export type SessionPersistence = z.infer<typeof SessionPersistence>;
