/** Header rules for the hop to the upstream and back: hop-by-hop stripping, forwarding headers, trace context. */
import type { HeaderModifier } from '../schema.js';

// RFC 9110 §7.6.1 connection-specific fields, plus legacy proxy ones.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

// Forwarding and identity headers a client could forge; the edge sets its own instead.
const CLIENT_FORGEABLE = [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-request-id',
  'x-edgeway-route',
  'x-edgeway-backend',
  'x-edgeway-cluster',
];

/**
 * Deletes the fields `drop` names, plus any named in Connection. One delete per listed name: a walk over the names
 * present (headers.keys()) crosses into the runtime once per field and allocates an iterator, and costs no less.
 */
function dropFields(headers: Headers, drop: readonly string[], keepUpgrade: boolean): void {
  const connection = headers.get('connection');
  if (connection !== null)
    for (const token of connection.split(',')) {
      const named = token.trim().toLowerCase();
      if (named && !(keepUpgrade && (named === 'upgrade' || named === 'connection'))) headers.delete(named);
    }
  for (const name of drop) if (!(keepUpgrade && (name === 'upgrade' || name === 'connection'))) headers.delete(name);
}

const UPSTREAM_DROP: readonly string[] = [...HOP_BY_HOP, ...CLIENT_FORGEABLE];

/** Removes hop-by-hop fields, including any named in Connection. Upgrade survives for WebSocket handshakes. */
export function stripHopByHop(headers: Headers, keepUpgrade = false): void {
  dropFields(headers, HOP_BY_HOP, keepUpgrade);
}

export interface ForwardingFacts {
  /** CF-Connecting-IP as set by Cloudflare's edge (not a client-settable header in production). */
  clientIp: string | null;
  proto: string;
  host: string;
  requestId: string;
  traceparent: string;
}

/** Builds the upstream request headers from the client's: untrusted forwarding fields replaced by ours. */
export function upstreamHeaders(incoming: Headers, facts: ForwardingFacts, isWebSocket: boolean): Headers {
  const headers = new Headers(incoming);
  dropFields(headers, UPSTREAM_DROP, isWebSocket);
  if (facts.clientIp) headers.set('x-forwarded-for', facts.clientIp);
  headers.set('x-forwarded-proto', facts.proto);
  headers.set('x-forwarded-host', facts.host);
  headers.set('x-request-id', facts.requestId);
  headers.set('traceparent', facts.traceparent);
  return headers;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * W3C Trace Context: keep the caller's trace id and flags, make the edge the parent span. An absent or invalid
 * traceparent starts a new trace. `randomHex` is injected so tests are deterministic.
 */
export function nextTraceparent(incoming: string | null, randomHex: (bytes: number) => string): string {
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  const valid = m && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!);
  const traceId = valid ? m[2]! : randomHex(16);
  const flags = valid ? m[4]! : '01';
  return `00-${traceId}-${randomHex(8)}-${flags}`;
}

/**
 * Gateway API header modifier: set replaces, add appends, remove deletes. `add` to a header that already exists
 * gives one field "existing,added" (comma, no space), as Envoy sends it and the conformance suite expects; the
 * Fetch API's `append` would join with ", ". Set-Cookie cannot be comma-joined, so it gets a field of its own.
 */
export function applyHeaderModifier(headers: Headers, modifier: HeaderModifier | undefined): void {
  if (!modifier) return;
  for (const { name, value } of modifier.set ?? []) headers.set(name, value);
  for (const { name, value } of modifier.add ?? []) {
    const existing = name.toLowerCase() === 'set-cookie' ? null : headers.get(name);
    if (existing === null) headers.append(name, value);
    else headers.set(name, `${existing},${value}`);
  }
  for (const name of modifier.remove ?? []) headers.delete(name);
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export function randomHex(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let out = '';
  for (let i = 0; i < buf.length; i++) out += HEX_BYTE[buf[i]!];
  return out;
}

/** The value of one cookie (RFC 6265 cookie-string; a quoted value is unquoted), or undefined. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}
