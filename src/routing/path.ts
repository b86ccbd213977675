/** Path handling for route matching: prefix normalisation, whole-segment prefix tests, regex segment analysis. */

/** "/abc/" -> "/abc", "/" -> "": the form whose length is the prefix's precedence weight. */
export function normalizePrefix(value: string): string {
  return value.endsWith('/') ? value.slice(0, -1) : value;
}

/** An empty request path (e.g. from an absolute-form URL with no path) is "/". */
export function normalizeRequestPath(path: string): string {
  return path === '' ? '/' : path;
}

/** Whole-segment prefix test against a normalised prefix: "/abc" matches "/abc", "/abc/", "/abc/x", not "/abcd". */
export function prefixMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47; /* / */
}

const META = new Set(['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}']);
const QUANTIFIER = new Set(['?', '*', '+', '{']);

/**
 * Path segments a path regex pins to a literal value, as [segment position, literal] pairs (position 1 is the
 * first segment). Conservative: a pair is only reported when every match of the regex provably has that literal
 * as that whole segment, so an index keyed on it never hides a match. The pattern is split at top-level "/";
 * positions stay fixed only while the pieces before cannot produce a "/" themselves, and a literal counts only
 * when the "/" after it is not optional.
 * "/api/v[0-9]+/users/[0-9]+" -> [[1, "api"], [3, "users"]]; "/a|/b" -> []; "/api/?x" -> [].
 */
export function regexSegmentLiterals(pattern: string): Array<[number, string]> {
  // RE2 syntax the scanner does not model: \Q...\E quotes metacharacters, and "]" first in a class is a literal.
  // Giving up is always safe (no pin); guessing could hide a match.
  if (pattern.includes('\\Q') || /\[\^?\]/.test(pattern)) return [];
  if (hasTopLevelAlternation(pattern)) return [];
  const pieces = splitTopLevelSlashes(pattern);
  if (pieces[0] !== '') return [];
  const out: Array<[number, string]> = [];
  for (let k = 1; k < pieces.length; k++) {
    const piece = pieces[k]!;
    // A quantifier right after "/" makes that "/" optional: nothing from here on has a fixed position.
    if (piece.length > 0 && QUANTIFIER.has(piece[0]!)) break;
    const next = pieces[k + 1];
    const slashAfterIsFixed = next === undefined || next.length === 0 || !QUANTIFIER.has(next[0]!);
    if (piece.length > 0 && slashAfterIsFixed && isPlainLiteral(piece)) out.push([k, piece]);
    if (!cannotMatchSlash(piece)) break;
  }
  return out;
}

/** The `position`-th segment of a request path (1-based), or null when the path is shorter or not absolute. */
export function pathSegment(path: string, position: number): string | null {
  if (path.charCodeAt(0) !== 47) return null;
  let start = 0;
  for (let i = 1; i < position; i++) {
    start = path.indexOf('/', start + 1);
    if (start === -1) return null;
  }
  const end = path.indexOf('/', start + 1);
  return end === -1 ? path.slice(start + 1) : path.slice(start + 1, end);
}

/** pathSegment(path, position) === literal, without allocating. */
export function segmentIs(path: string, position: number, literal: string): boolean {
  if (path.charCodeAt(0) !== 47) return false;
  let start = 0;
  for (let i = 1; i < position; i++) {
    start = path.indexOf('/', start + 1);
    if (start === -1) return false;
  }
  const end = start + 1 + literal.length;
  return path.startsWith(literal, start + 1) && (end === path.length || path.charCodeAt(end) === 47);
}

function isPlainLiteral(piece: string): boolean {
  for (const ch of piece) if (META.has(ch)) return false;
  return true;
}

/** True only for pieces made of literals, \d, \w, non-negated classes without "/", and quantifiers. */
function cannotMatchSlash(piece: string): boolean {
  for (let i = 0; i < piece.length; i++) {
    const ch = piece[i]!;
    if (ch === '\\') {
      const esc = piece[i + 1];
      if (esc !== 'd' && esc !== 'w') return false;
      i++;
    } else if (ch === '[') {
      const end = piece.indexOf(']', i + 1);
      if (end === -1) return false;
      const body = piece.slice(i + 1, end);
      if (body.startsWith('^') || body.includes('/') || body.includes('\\') || body.includes('[')) return false;
      for (let j = 1; j + 1 < body.length; j++) {
        if (body[j] === '-' && body.charCodeAt(j - 1) <= 47 && body.charCodeAt(j + 1) >= 47) return false;
      }
      i = end;
    } else if (ch === '{') {
      const end = piece.indexOf('}', i + 1);
      if (end === -1 || !/^\d+(,\d*)?$/.test(piece.slice(i + 1, end))) return false;
      i = end;
    } else if (ch === '?' || ch === '*' || ch === '+') {
      // quantifier of the previous atom
    } else if (META.has(ch) || ch === '/') {
      return false;
    }
  }
  return true;
}

/**
 * Visits the characters of a regex source that are outside escapes and character classes, with the group depth at
 * that point; stops early when `visit` returns true. Both scanners below need exactly this walk.
 */
function walkTopLevel(pattern: string, visit: (ch: string, index: number, depth: number) => boolean | void): void {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (visit(ch, i, depth)) return;
  }
}

function splitTopLevelSlashes(pattern: string): string[] {
  const pieces: string[] = [];
  let from = 0;
  walkTopLevel(pattern, (ch, i, depth) => {
    if (ch === '/' && depth === 0) {
      pieces.push(pattern.slice(from, i));
      from = i + 1;
    }
  });
  pieces.push(pattern.slice(from));
  return pieces;
}

function hasTopLevelAlternation(pattern: string): boolean {
  let found = false;
  walkTopLevel(pattern, (ch, _i, depth) => (found = ch === '|' && depth <= 0));
  return found;
}
