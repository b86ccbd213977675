/** Client key derivation for a policy: ClientIP (CF-Connecting-IP only, grouped by network prefix), Header, Cookie, Route and Consumer, combined. */
import ipaddr from 'ipaddr.js';
import type { ClientIPGrouping, RateLimitKey } from '../schema.js';
import { readCookie } from '../proxy/headers.js';

export interface DerivedKey {
  /** Canonical key text; never logged (it can hold API keys). */
  key: string;
  /** Human description of the first missing part, e.g. 'header "x-api-key"'. */
  missing?: string;
}

export const DEFAULT_CLIENT_IP: ClientIPGrouping = { ipv4PrefixLength: 32, ipv6PrefixLength: 64 };

/** Longer than any address text (45 characters for IPv6 with an embedded IPv4) with room for a zone id. */
const MAX_ADDRESS_TEXT = 64;

/**
 * The client's network as key text: the address masked to the policy's prefix length, canonical (RFC 5952 for
 * IPv6), with the prefix when shorter than the address. IPv4-mapped IPv6 (::ffff:192.0.2.1) is IPv4. A zone id
 * (fe80::1%eth0) names an interface of the receiving host, not a client, and is dropped. Anything else (absent,
 * overlong, not an address, non-decimal IPv4 forms) is "unknown": such clients share one bucket rather than mint one
 * per spelling. Only CF-Connecting-IP is read: Cloudflare sets it, whereas clients set X-Forwarded-For.
 */
export function clientNetwork(raw: string | null | undefined, grouping: ClientIPGrouping = DEFAULT_CLIENT_IP): string {
  const text = raw?.trim();
  if (!text || text.length > MAX_ADDRESS_TEXT) return 'unknown';
  // A client sends many requests from one address: parse each address once per isolate (bounded like objectName's cache).
  const cacheKey = `${grouping.ipv4PrefixLength},${grouping.ipv6PrefixLength},${text}`;
  let network = networks.get(cacheKey);
  if (network === undefined) {
    network = parseNetwork(text, grouping);
    if (networks.size >= 4096) networks.clear();
    networks.set(cacheKey, network);
  }
  return network;
}

const networks = new Map<string, string>();

function parseNetwork(text: string, grouping: ClientIPGrouping): string {
  const zone = text.indexOf('%');
  const bare = zone >= 0 ? text.slice(0, zone) : text;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    if (ipaddr.IPv4.isValidFourPartDecimal(bare)) addr = ipaddr.IPv4.parse(bare);
    else if (bare.includes(':') && ipaddr.IPv6.isValid(bare)) {
      const v6 = ipaddr.IPv6.parse(bare);
      addr = v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
    } else return 'unknown';
  } catch {
    return 'unknown';
  }
  const bits = addr.kind() === 'ipv4' ? 32 : 128;
  const prefix = Math.max(0, Math.min(bits, addr.kind() === 'ipv4' ? grouping.ipv4PrefixLength : grouping.ipv6PrefixLength));
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  const masked = ipaddr.fromByteArray(bytes);
  const shown = masked.kind() === 'ipv6' ? (masked as ipaddr.IPv6).toRFC5952String() : masked.toString();
  return prefix < bits ? `${shown}/${prefix}` : shown;
}

/**
 * Builds the key. A missing Header/Cookie part is replaced by the client IP (FallbackToClientIP) under its own
 * tag, so an IP can never collide with a header value; `missing` reports it so the caller can Deny instead.
 * X-Forwarded-For is never read: the client sets it.
 */
export function deriveKey(
  keys: RateLimitKey[],
  headers: Headers,
  routeKey: string,
  section: string | undefined,
  grouping: ClientIPGrouping = DEFAULT_CLIENT_IP,
  /** The authenticated principal (`consumer:<name>`, `jwt:<provider>:<sub>`) from the security stage, if any. */
  principal?: string,
): DerivedKey {
  const parts: string[] = [];
  let ip: string | undefined;
  const clientIp = () => (ip ??= clientNetwork(headers.get('cf-connecting-ip'), grouping));
  let missing: string | undefined;
  for (const k of keys) {
    switch (k.type) {
      case 'ClientIP':
        parts.push(`ip=${encodeURIComponent(clientIp())}`);
        break;
      case 'Route':
        parts.push(`route=${encodeURIComponent(section ? `${routeKey}#${section}` : routeKey)}`);
        break;
      case 'Header': {
        const v = headers.get(k.name);
        if (v === null || v === '') {
          missing ??= `header "${k.name.toLowerCase()}"`;
          parts.push(`h:${k.name.toLowerCase()}?ip=${encodeURIComponent(clientIp())}`);
        } else parts.push(`h:${k.name.toLowerCase()}=${encodeURIComponent(v)}`);
        break;
      }
      case 'Consumer':
        if (principal === undefined) {
          missing ??= 'consumer';
          parts.push(`consumer?ip=${encodeURIComponent(clientIp())}`);
        } else parts.push(`consumer=${encodeURIComponent(principal)}`);
        break;
      case 'Cookie': {
        const v = readCookie(headers.get('cookie'), k.name);
        if (v === undefined || v === '') {
          missing ??= `cookie "${k.name}"`;
          parts.push(`c:${encodeURIComponent(k.name)}?ip=${encodeURIComponent(clientIp())}`);
        } else parts.push(`c:${encodeURIComponent(k.name)}=${encodeURIComponent(v)}`);
        break;
      }
    }
  }
  return missing ? { key: parts.join('&'), missing } : { key: parts.join('&') };
}
