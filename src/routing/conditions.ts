/** Method, header and query-parameter conditions of one HTTPRoute match, compiled once and checked per request. */
import type { HTTPRouteMatch } from '../schema.js';
import type { MatchRequest } from '../routing.js';
import { compileRouteRegex, type RouteRegex } from './regex.js';

export interface ValueCondition {
  /** Header names lowercased (they are case-insensitive); query names as written (case-sensitive). */
  name: string;
  /** Exact value, used when `regex` is null. */
  value: string;
  /** RegularExpression: a full match in linear time (RE2). */
  regex: RouteRegex | null;
}

export interface Conditions {
  method: string | null;
  headers: ValueCondition[];
  query: ValueCondition[];
}

/**
 * Compiles the non-path parts of a match. A name listed twice counts once: the first entry wins. `regexCache`
 * (pattern -> compiled) lets one snapshot compile each pattern once; a full-match test keeps no state, so sharing
 * is safe.
 */
export function compileConditions(match: HTTPRouteMatch, regexCache: Map<string, RouteRegex> = new Map()): Conditions {
  if (match.method === undefined && match.headers === undefined && match.queryParams === undefined) return NONE;
  return {
    method: match.method ?? null,
    headers: compileValues(match.headers, true, regexCache),
    query: compileValues(match.queryParams, false, regexCache),
  };
}

const NO_VALUES: ValueCondition[] = [];
const NONE: Conditions = { method: null, headers: NO_VALUES, query: NO_VALUES };

function compileValues(
  list: readonly { type: 'Exact' | 'RegularExpression'; name: string; value: string }[] | undefined,
  foldCase: boolean,
  regexCache: Map<string, RouteRegex>,
): ValueCondition[] {
  if (list === undefined || list.length === 0) return NO_VALUES;
  const out: ValueCondition[] = [];
  const seen = new Set<string>();
  for (const m of list) {
    const name = foldCase ? m.name.toLowerCase() : m.name;
    if (seen.has(name)) continue;
    seen.add(name);
    let regex: RouteRegex | null = null;
    if (m.type === 'RegularExpression') {
      regex = regexCache.get(m.value) ?? null;
      if (regex === null) regexCache.set(m.value, (regex = compileRouteRegex(m.value)));
    }
    out.push({ name, value: m.value, regex });
  }
  return out;
}

/** True when method, every header and every query condition hold. Cheapest checks first; no allocation. */
export function conditionsPass(c: Conditions, req: MatchRequest): boolean {
  if (c.method !== null && c.method !== req.method) return false;
  const hs = c.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    const v = req.headers.get(h.name);
    if (v === null || (h.regex === null ? v !== h.value : !h.regex.testExact(v))) return false;
  }
  const qs = c.query;
  for (let i = 0; i < qs.length; i++) {
    const q = qs[i]!;
    // Like Envoy, a repeated query parameter is judged by its first value.
    const v = req.query.get(q.name);
    if (v === null || (q.regex === null ? v !== q.value : !q.regex.testExact(v))) return false;
  }
  return true;
}
