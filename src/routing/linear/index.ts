/** Reference matcher: every entry in one list sorted by the full precedence key, scanned linearly. */
import type { CompileRoutes, MatchRequest, RouteMatch } from '../../routing.js';
import { conditionsPass } from '../conditions.js';
import { hostMatches, matcherHost } from '../hostname.js';
import { normalizeRequestPath, prefixMatches } from '../path.js';
import { countMatches, expandRoutes, PathKind, sortEntries, type Entry } from '../precedence.js';

function pathMatches(e: Entry, path: string): boolean {
  switch (e.pathKind) {
    case PathKind.Exact:
      return path === e.path;
    case PathKind.RegularExpression:
      return e.regex!.testExact(path);
    default:
      return prefixMatches(e.path, path);
  }
}

export const compileLinear: CompileRoutes = (routes) => {
  const entries = sortEntries(expandRoutes(routes));
  return {
    size: countMatches(routes),
    match(req: MatchRequest): RouteMatch | null {
      const host = matcherHost(req.host);
      const path = normalizeRequestPath(req.path);
      for (const e of entries) {
        if (hostMatches(e.host, host) && pathMatches(e, path) && conditionsPass(e.conditions, req)) return e.result;
      }
      return null;
    },
  };
};
