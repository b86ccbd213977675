/** RegularExpression matches: RE2 syntax, linear-time matching (re2js), full match as Envoy Gateway's safe_regex. */
import { RE2JS, RE2JSException } from 're2js';

/*
 * Why RE2: a backtracking engine (JS RegExp) takes exponential time on patterns such as "([a-z0-9]+)+\.txt" or
 * "(\w+\s?)*$" against a crafted 40-character path or header: tens of seconds of CPU per request. RE2 runs in time
 * linear in the input, for every pattern it accepts, and is what Envoy Gateway uses (Envoy's safe_regex is RE2),
 * so route files mean the same thing at the edge as in the cluster. RE2 has no backreferences or lookaround;
 * those patterns are rejected when a route file is validated.
 *
 * Full match: Envoy matches a RegularExpression path (query string excluded), header value and query value against
 * the whole string, as if anchored at both ends. `testExact` does exactly that, without wrapping the pattern.
 */

/** A compiled route regex. `testExact` is a full match and keeps no per-call state, so one object can be shared. */
export type RouteRegex = Pick<RE2JS, 'testExact'>;

/** Compiles a RE2 pattern; throws for patterns RE2 cannot compile (validation reports those first). */
export function compileRouteRegex(pattern: string): RouteRegex {
  return RE2JS.compile(pattern);
}

/** Patterns seen by validation, with RE2's complaint ('' when the pattern compiles). Bounded: input is untrusted. */
const checked = new Map<string, string>();
const MAX_CHECKED = 4096;

/**
 * Why a pattern cannot be used ("invalid or unsupported Perl syntax: `(?=`"), or null when RE2 compiles it.
 * Compiling costs tens of microseconds, and a big snapshot repeats the same few patterns thousands of times, so the
 * verdict is remembered per pattern.
 */
export function routeRegexError(pattern: string): string | null {
  let verdict = checked.get(pattern);
  if (verdict === undefined) {
    try {
      RE2JS.compile(pattern);
      verdict = '';
    } catch (e) {
      if (!(e instanceof RE2JSException)) throw e;
      verdict = e.message.replace(/^error parsing regexp: /, '');
    }
    if (checked.size >= MAX_CHECKED) checked.clear();
    checked.set(pattern, verdict);
  }
  return verdict === '' ? null : verdict;
}
