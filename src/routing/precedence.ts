/** Gateway API HTTPRoute precedence: expands routes into match entries and orders them by the full precedence key. */
/*
 * Why hand-written: no maintained JS/TS library implements Gateway API HTTPRoute matching and precedence
 * (JS routers such as Hono's, find-my-way or path-to-regexp order by registration or path specificity only, and
 * know nothing of hostnames, header/query conditions or the cross-route tie-breakers). The rules below are decided
 * after the HTTPRouteRule precedence of the Gateway API spec (https://gateway-api.sigs.k8s.io/reference/spec/); both
 * matchers (src/routing/linear, src/routing/indexed) obey them and the shared suite in test/unit/routing checks them.
 *
 * Request host: lowercase, port removed by the caller; a trailing dot is stripped here too. `*.example.com`
 * matches `foo.example.com` and `a.b.example.com`, not `example.com`. A route without hostnames matches any host.
 *
 * Precedence is per RULE across all routes (precedence is over matching rules, not over virtual hosts: if no rule
 * of the best hostname matches, the next hostname's rules are tried). Lower key wins, compared in this order:
 *   1. hostname: a matching exact hostname beats a matching wildcard; more characters in the matching hostname
 *      wins (so `*.b.example.com` beats `*.example.com`); routes without hostnames come last.
 *      A route listing several matching hostnames competes with its best one (that is `matchedHostname`).
 *   2. path type: Exact > RegularExpression > PathPrefix. Regex placement is implementation-defined by the spec;
 *      we follow Envoy Gateway. Among regexes the longer pattern string wins.
 *      Among prefixes the longer prefix wins, counted in characters after dropping a trailing "/".
 *   3. a match with `method` beats one without;
 *   4. more header matches win; 5. more query-parameter matches win (a name listed twice counts once);
 *   6. the older route wins (metadata.creationTimestamp; a route without one counts as newest);
 *   7. "namespace/name" in code-unit (alphabetical) order; then input order for duplicate keys;
 *   8. rule order; 9. match order inside the rule.
 *
 * Match semantics: PathPrefix matches whole segments (`/abc` matches `/abc`, `/abc/`, `/abc/def`, not `/abcd`; a
 * trailing "/" in the prefix is ignored; `/` matches everything); Exact is case-sensitive and `/abc` does not
 * match `/abc/`; a match without a path is PathPrefix "/". RegularExpression (path, header, query) is RE2 syntax,
 * a full match of the whole value, run in linear time (src/routing/regex.ts) and compiled once per pattern. Header names are case-insensitive, query names
 * case-sensitive, values exact or regex; a repeated name inside one match counts once (first entry). The matches
 * of a rule are ORed; inside one match path, headers, queryParams and method are ANDed.
 */
import type { HTTPRoute, HTTPRouteMatch, HTTPRouteRule } from '../schema.js';
import { resourceKey } from '../schema/keys.js';
import type { RouteMatch } from '../routing.js';
import { compileConditions, type Conditions } from './conditions.js';
import { routeHosts, type RouteHost } from './hostname.js';
import { normalizePrefix, regexSegmentLiterals } from './path.js';
import { compileRouteRegex, type RouteRegex } from './regex.js';

export const PathKind = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;
export type PathKind = (typeof PathKind)[keyof typeof PathKind];

const PATH_KIND: Record<string, PathKind> = PathKind;

/** One (route, hostname, rule, match) combination, ready to be checked against a request. */
export interface Entry {
  // Fields read while matching come first (object layout follows creation order; fewer cache lines touched).
  pathKind: PathKind;
  /** Exact: the value; PathPrefix: the normalised prefix ("" for "/"); RegularExpression: the pattern. */
  path: string;
  /** No method/header/query conditions: the path alone decides (saves touching `conditions` per candidate). */
  plain: boolean;
  /** Prebuilt, frozen result: matching allocates nothing. */
  result: RouteMatch;
  /** RegularExpression entries: the compiled pattern (RE2, full match). */
  regex: RouteRegex | null;
  /** Regex entries: a path segment the regex pins to a literal (0 = none), checked before running the regex. */
  pinPosition: number;
  pinLiteral: string;
  conditions: Conditions;
  /** Position in the precedence order of its list (set by the matcher that sorts): lower wins. */
  rank: number;
  host: RouteHost;
  // Remaining precedence key fields.
  createdAt: number;
  inputIndex: number;
}

const DEFAULT_PATH = Object.freeze({ type: 'PathPrefix' as const, value: '/' });

/**
 * Expands routes into entries in input order (unsorted, `rank` unset). Callers order them with `compareEntries`
 * (one global list) or `compareWithinHost` (per hostname group, which is cheaper for big tables).
 */
export function expandRoutes(routes: readonly HTTPRoute[]): Entry[] {
  const entries: Entry[] = [];
  const regexCache: RegexCache = { paths: new Map(), values: new Map() };
  for (let inputIndex = 0; inputIndex < routes.length; inputIndex++) {
    const route = routes[inputIndex]!;
    const routeKey = resourceKey(route);
    const ts = route.metadata.creationTimestamp;
    const parsed = ts === undefined ? NaN : Date.parse(ts);
    const createdAt = Number.isNaN(parsed) ? Number.POSITIVE_INFINITY : parsed;
    const hosts = routeHosts(route.spec.hostnames);
    const rules = route.spec.rules;
    for (let ruleIndex = 0; ruleIndex < rules.length; ruleIndex++) {
      const rule: HTTPRouteRule = rules[ruleIndex]!;
      for (let matchIndex = 0; matchIndex < rule.matches.length; matchIndex++) {
        const original: HTTPRouteMatch = rule.matches[matchIndex]!;
        const match: HTTPRouteMatch = original.path ? original : Object.freeze({ ...original, path: DEFAULT_PATH });
        const p = match.path ?? DEFAULT_PATH;
        const pathKind = PATH_KIND[p.type] ?? PathKind.PathPrefix;
        const path = pathKind === PathKind.PathPrefix ? normalizePrefix(p.value) : p.value;
        const compiled = pathKind === PathKind.RegularExpression ? pathRegex(p.value, regexCache) : null;
        const regex = compiled === null ? null : compiled.regex;
        const pin = compiled === null ? undefined : compiled.pin;
        const conditions = compileConditions(match, regexCache.values);
        for (const host of hosts) {
          const result: RouteMatch = Object.freeze({
            route,
            routeKey,
            ruleIndex,
            rule,
            matchIndex,
            match,
            matchedHostname: host.hostname,
          });
          const plain = conditions.method === null && conditions.headers.length === 0 && conditions.query.length === 0;
          entries.push({
            pathKind,
            path,
            plain,
            result,
            regex,
            pinPosition: pin?.[0] ?? 0,
            pinLiteral: pin?.[1] ?? '',
            conditions,
            rank: 0,
            host,
            createdAt,
            inputIndex,
          });
        }
      }
    }
  }
  return entries;
}

/**
 * Big tables repeat the same few patterns across many routes; compiling and analysing each once per snapshot saves
 * compile time and memory (an RE2 compile costs tens of microseconds). Sharing is safe: a full-match test keeps no
 * per-call state.
 */
interface RegexCache {
  paths: Map<string, { regex: RouteRegex; pin: [number, string] | undefined }>;
  values: Map<string, RouteRegex>;
}

function pathRegex(pattern: string, cache: RegexCache): { regex: RouteRegex; pin: [number, string] | undefined } {
  let c = cache.paths.get(pattern);
  if (c === undefined) {
    // The deepest pinned segment is usually the most selective one (".../<resource>/...").
    c = { regex: compileRouteRegex(pattern), pin: regexSegmentLiterals(pattern).at(-1) };
    cache.paths.set(pattern, c);
  }
  return c;
}

/** Sorts entries by the full precedence key and sets `rank` to their position. */
export function sortEntries(entries: Entry[]): Entry[] {
  entries.sort(compareEntries);
  for (let i = 0; i < entries.length; i++) entries[i]!.rank = i;
  return entries;
}

/** Number of (route, rule, match) combinations, the `size` both matchers report. */
export function countMatches(routes: readonly HTTPRoute[]): number {
  let n = 0;
  for (const r of routes) for (const rule of r.spec.rules) n += rule.matches.length;
  return n;
}

/** The full precedence comparison (negative: `a` wins). */
export function compareEntries(a: Entry, b: Entry): number {
  return compareHost(a, b) || compareWithinHost(a, b);
}

function compareHost(a: Entry, b: Entry): number {
  if (a.host.kind !== b.host.kind) return a.host.kind - b.host.kind;
  // Longer matching hostname first; equal lengths that both match a host are the same hostname.
  if (a.host.hostname.length !== b.host.hostname.length) return b.host.hostname.length - a.host.hostname.length;
  return cmpStr(a.host.hostname, b.host.hostname);
}

/** Precedence after the hostname step: what orders candidate lists inside one hostname group. */
export function compareWithinHost(a: Entry, b: Entry): number {
  if (a.pathKind !== b.pathKind) return a.pathKind - b.pathKind;
  if (a.pathKind !== PathKind.Exact && a.path.length !== b.path.length) return b.path.length - a.path.length;
  const am = a.conditions.method === null ? 1 : 0;
  const bm = b.conditions.method === null ? 1 : 0;
  if (am !== bm) return am - bm;
  if (a.conditions.headers.length !== b.conditions.headers.length) return b.conditions.headers.length - a.conditions.headers.length;
  if (a.conditions.query.length !== b.conditions.query.length) return b.conditions.query.length - a.conditions.query.length;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  const k = cmpStr(a.result.routeKey, b.result.routeKey);
  if (k !== 0) return k;
  if (a.inputIndex !== b.inputIndex) return a.inputIndex - b.inputIndex;
  if (a.result.ruleIndex !== b.result.ruleIndex) return a.result.ruleIndex - b.result.ruleIndex;
  if (a.result.matchIndex !== b.result.matchIndex) return a.result.matchIndex - b.result.matchIndex;
  // Same pattern text of equal length: keep the order total and deterministic.
  return cmpStr(a.path, b.path);
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
