/** Hostname handling for route matching: request-host normalisation and route-hostname classification. */

/** How a route hostname matched; the numeric order is the precedence order (lower wins). */
export const HostKind = { Exact: 0, Wildcard: 1, Any: 2 } as const;
export type HostKind = (typeof HostKind)[keyof typeof HostKind];

export interface RouteHost {
  kind: HostKind;
  /** The hostname as written in the route ("" for routes without hostnames). */
  hostname: string;
  /** For wildcards the suffix including its leading dot ("*.example.com" -> ".example.com"). */
  suffix: string;
}

export function classifyHostname(hostname: string): RouteHost {
  if (hostname.startsWith('*.')) return { kind: HostKind.Wildcard, hostname, suffix: hostname.slice(1) };
  return { kind: HostKind.Exact, hostname, suffix: '' };
}

const ANY: RouteHost = Object.freeze({ kind: HostKind.Any, hostname: '', suffix: '' });

/** The route hostnames of one route, deduplicated; a route without hostnames gets one `Any` entry. */
export function routeHosts(hostnames: readonly string[] | undefined): RouteHost[] {
  if (!hostnames || hostnames.length === 0) return [ANY];
  if (hostnames.length === 1) return [classifyHostname(hostnames[0]!)];
  return [...new Set(hostnames)].map(classifyHostname);
}

/**
 * Cheap per-request normalisation inside the matcher: the caller already lowercased the host and removed the
 * port, but a fully-qualified "example.com." must match "example.com" (the trailing dot is legal in Host).
 */
export function matcherHost(host: string): string {
  // Only allocate when there is something to fix; the common case returns the input unchanged.
  if (host.charCodeAt(host.length - 1) === 46 /* . */) host = host.slice(0, -1);
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 65 && c <= 90) return host.toLowerCase();
  }
  return host;
}

/**
 * Turns a raw Host header value into what `MatchRequest.host` expects: lowercase, no port, no trailing dot.
 * Handles bracketed IPv6 literals ("[::1]:8443" -> "[::1]").
 */
export function requestHostFromHeader(hostHeader: string): string {
  let h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end === -1 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** Whether a (normalised) request host is matched by a route hostname. */
export function hostMatches(rh: RouteHost, host: string): boolean {
  switch (rh.kind) {
    case HostKind.Exact:
      return host === rh.hostname;
    case HostKind.Wildcard:
      // "*.example.com" needs at least one label in front: it does not match "example.com" itself.
      return host.length > rh.suffix.length && host.endsWith(rh.suffix);
    default:
      return true;
  }
}
