/** Request-path normalisation before matching: RFC 3986 §6.2.2, dot segments, merged slashes, escaped-slash policy. */

/*
 * Why: a route that guards "/admin" must see "/%61dmin", "/./admin" and "//admin" as "/admin", or a client picks
 * which rule answers. Edgeway follows Envoy Gateway's defaults (normalize_path on, merge_slashes on,
 * escapedSlashesAction UnescapeRedirect), in Envoy's order:
 *   1. percent-encoding (RFC 3986 §6.2.2.1-2): %XX of an unreserved character (ALPHA DIGIT - . _ ~) is decoded,
 *      every other escape is kept with upper-case hex ("%3f" -> "%3F"). Decoding is one pass, so "%252F" stays
 *      "%252F" (never decoded twice). A "%" not followed by two hex digits, and "%00", are rejected (400).
 *      %2F and %5C (encoded "/" and "\") follow the escaped-slashes action:
 *        KeepUnchanged     stay encoded ("%2F"): part of a segment, never a separator.
 *        RejectRequest     400.
 *        UnescapeForward   decoded to "/" and matched and forwarded as such.
 *        UnescapeRedirect  decoded to "/", then 307 to the normalised path (the default, as in Envoy Gateway).
 *      A decoded "\" becomes "/": the URL parser of Workers (WHATWG) already turns a raw "\" into "/" in http(s)
 *      paths, and an encoded one must not mean something else.
 *   2. dot segments (RFC 3986 §5.2.4): "/a/./b" -> "/a/b", "/a/b/../c" -> "/a/c", never above the root.
 *   3. merged slashes ("//" -> "/"), unless switched off.
 * The query string is not touched. The upstream receives the path that was matched.
 */

export const ESCAPED_SLASHES_ACTIONS = ['KeepUnchanged', 'RejectRequest', 'UnescapeForward', 'UnescapeRedirect'] as const;
export type EscapedSlashesAction = (typeof ESCAPED_SLASHES_ACTIONS)[number];

export interface PathPolicy {
  escapedSlashes: EscapedSlashesAction;
  mergeSlashes: boolean;
}

/** Envoy Gateway's defaults (ClientTrafficPolicy path settings left unset). */
export const DEFAULT_PATH_POLICY: PathPolicy = Object.freeze({ escapedSlashes: 'UnescapeRedirect', mergeSlashes: true });

export type NormalizedPath =
  { action: 'match'; path: string } | { action: 'redirect'; path: string } | { action: 'reject'; reason: string };

/**
 * The policy from the Worker's variables: PATH_ESCAPED_SLASHES (one of ESCAPED_SLASHES_ACTIONS) and
 * PATH_MERGE_SLASHES ("off" keeps repeated slashes). Unset or unknown values mean the default.
 */
export function pathPolicyFrom(vars: { PATH_ESCAPED_SLASHES?: string | undefined; PATH_MERGE_SLASHES?: string | undefined }): PathPolicy {
  const action = ESCAPED_SLASHES_ACTIONS.find((a) => a === vars.PATH_ESCAPED_SLASHES) ?? DEFAULT_PATH_POLICY.escapedSlashes;
  const mergeSlashes = vars.PATH_MERGE_SLASHES !== 'off';
  return action === DEFAULT_PATH_POLICY.escapedSlashes && mergeSlashes ? DEFAULT_PATH_POLICY : { escapedSlashes: action, mergeSlashes };
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 65 && c <= 70) return c - 55; // A-F
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) || // A-Z
    (c >= 97 && c <= 122) || // a-z
    (c >= 48 && c <= 57) || // 0-9
    c === 45 || // -
    c === 46 || // .
    c === 95 || // _
    c === 126 // ~
  );
}

/**
 * Normalises a request path (the URL's pathname, without query). Linear in the path's length; allocates nothing
 * when the path is already normal, the common case.
 */
export function normalizePath(raw: string, policy: PathPolicy = DEFAULT_PATH_POLICY): NormalizedPath {
  if (raw === '') return { action: 'match', path: '/' };
  // Fast path: nothing to decode, no dot segment, no empty segment to merge, no backslash.
  let clean = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (
      c === 37 /* % */ ||
      c === 92 /* \ */ ||
      (c === 47 /* / */ && (raw.charCodeAt(i + 1) === 46 /* . */ || raw.charCodeAt(i + 1) === 47))
    ) {
      clean = false;
      break;
    }
  }
  if (clean) return { action: 'match', path: raw };

  // 1. Percent-encoding.
  let out = '';
  let escapedSlash = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 92 /* \ */) {
      out += '/';
      continue;
    }
    if (c !== 37 /* % */) {
      out += raw[i];
      continue;
    }
    const hi = i + 2 < raw.length ? hexValue(raw.charCodeAt(i + 1)) : -1;
    const lo = hi === -1 ? -1 : hexValue(raw.charCodeAt(i + 2));
    if (lo === -1) return { action: 'reject', reason: 'invalid percent-encoding in path' };
    const v = hi * 16 + lo;
    i += 2;
    if (v === 0) return { action: 'reject', reason: 'encoded NUL (%00) in path' };
    if (v === 0x2f || v === 0x5c) {
      if (policy.escapedSlashes === 'RejectRequest') return { action: 'reject', reason: 'encoded slash (%2F or %5C) in path' };
      if (policy.escapedSlashes !== 'KeepUnchanged') {
        escapedSlash = true;
        out += '/';
        continue;
      }
    } else if (isUnreserved(v)) {
      out += String.fromCharCode(v);
      continue;
    }
    out += '%' + HEX[hi] + HEX[lo];
  }

  // 2-3. Dot segments, then merged slashes (Envoy merges after normalising: "/a//.." is "/a/", not "/").
  const path = out.charCodeAt(0) === 47 ? removeDotSegments(out, policy.mergeSlashes) : out;
  return { action: escapedSlash && policy.escapedSlashes === 'UnescapeRedirect' ? 'redirect' : 'match', path };
}

/** RFC 3986 §5.2.4 on an absolute path; `merge` then drops empty segments (a trailing "/" is kept). */
function removeDotSegments(path: string, merge: boolean): string {
  const input = path.split('/');
  const out: string[] = [];
  // input[0] is the empty string before the leading "/".
  for (let i = 1; i < input.length; i++) {
    const seg = input[i]!;
    const last = i === input.length - 1;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      // "/a/." and "/a/b/.." name a directory: keep the trailing slash.
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  if (merge) {
    let w = 0;
    for (let r = 0; r < out.length; r++) if (out[r] !== '' || r === out.length - 1) out[w++] = out[r]!;
    out.length = w;
  }
  return '/' + out.join('/');
}
