/** Route matching: a compiled, immutable matcher built once per snapshot version. */
import type { HTTPRoute, HTTPRouteMatch, HTTPRouteRule } from './schema.js';

/**
 * What the matcher looks at. `host` is lowercase with the port already removed; `path` is already normalised
 * (src/routing/normalize.ts: the gateway matches and forwards that same path).
 */
export interface MatchRequest {
  host: string;
  path: string;
  method: string;
  headers: { get(name: string): string | null };
  query: URLSearchParams;
}

export interface RouteMatch {
  route: HTTPRoute;
  /** "namespace/name" of the route. */
  routeKey: string;
  ruleIndex: number;
  rule: HTTPRouteRule;
  matchIndex: number;
  /** The match entry that selected this rule (needed by ReplacePrefixMatch). */
  match: HTTPRouteMatch;
  /** The route hostname that matched the request host ("" when the route lists no hostnames). */
  matchedHostname: string;
}

export interface RouteMatcher {
  match(request: MatchRequest): RouteMatch | null;
  /** Number of (route, rule, match) entries compiled. */
  readonly size: number;
}

export type CompileRoutes = (routes: readonly HTTPRoute[]) => RouteMatcher;
