/** Gateway API URL filters (RequestRedirect, URLRewrite) as pure functions of the request URL and the matched rule. */
import type { HTTPRouteMatch } from '../schema.js';

type PathModifier = { type: 'ReplaceFullPath'; replaceFullPath: string } | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };

/**
 * Replaces the matched prefix with `replacement`, on whole segments as PathPrefix matches them
 * (Gateway API: prefix "/foo" + replacement "/xyz" turns "/foo/bar" into "/xyz/bar"; replacement "/" gives "/bar").
 */
export function replacePrefix(path: string, matchedPrefix: string, replacement: string): string {
  const rest = path.slice(matchedPrefix.replace(/\/+$/, '').length);
  return replacement.replace(/\/+$/, '') + rest || '/';
}

export function rewritePath(path: string, modifier: PathModifier | undefined, match: HTTPRouteMatch): string {
  if (!modifier) return path;
  if (modifier.type === 'ReplaceFullPath') return modifier.replaceFullPath;
  return replacePrefix(path, match.path?.value ?? '/', modifier.replacePrefixMatch);
}

export interface RedirectSpec {
  scheme?: 'http' | 'https' | undefined;
  hostname?: string | undefined;
  path?: PathModifier | undefined;
  port?: number | undefined;
  statusCode: number;
}

/** The Location of a RequestRedirect. Default ports are omitted, as the Gateway API asks. */
export function redirectLocation(url: URL, spec: RedirectSpec, match: HTTPRouteMatch): string {
  const scheme = spec.scheme ?? url.protocol.replace(':', '');
  const host = spec.hostname ?? url.hostname;
  // A scheme change without an explicit port drops the client's port (it belonged to the old scheme).
  const port =
    spec.port ?? (spec.scheme && spec.scheme !== url.protocol.replace(':', '') ? undefined : url.port ? Number(url.port) : undefined);
  const defaultPort = scheme === 'https' ? 443 : 80;
  const authority = port && port !== defaultPort ? `${host}:${port}` : host;
  return `${scheme}://${authority}${rewritePath(url.pathname, spec.path, match)}${url.search}`;
}
