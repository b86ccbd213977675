/** Client key derivation for a policy: ClientIP (CF-Connecting-IP only), Header, Cookie and Route, combined. */
import type { RateLimitKey } from '../schema.js';

export interface DerivedKey {
  /** Canonical key text; never logged (it can hold API keys). */
  key: string;
  /** Human description of the first missing part, e.g. 'header "x-api-key"'. */
  missing?: string;
}

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

const clientIp = (headers: Headers) => headers.get('cf-connecting-ip')?.trim() || 'unknown';

/**
 * Builds the key. A missing Header/Cookie part is replaced by the client IP (FallbackToClientIP) under its own
 * tag, so an IP can never collide with a header value; `missing` reports it so the caller can Deny instead.
 * X-Forwarded-For is never read: the client sets it.
 */
export function deriveKey(keys: RateLimitKey[], headers: Headers, routeKey: string, section: string | undefined): DerivedKey {
  const parts: string[] = [];
  let missing: string | undefined;
  for (const k of keys) {
    switch (k.type) {
      case 'ClientIP':
        parts.push(`ip=${encodeURIComponent(clientIp(headers))}`);
        break;
      case 'Route':
        parts.push(`route=${encodeURIComponent(section ? `${routeKey}#${section}` : routeKey)}`);
        break;
      case 'Header': {
        const v = headers.get(k.name);
        if (v === null || v === '') {
          missing ??= `header "${k.name.toLowerCase()}"`;
          parts.push(`h:${k.name.toLowerCase()}?ip=${encodeURIComponent(clientIp(headers))}`);
        } else parts.push(`h:${k.name.toLowerCase()}=${encodeURIComponent(v)}`);
        break;
      }
      case 'Cookie': {
        const v = readCookie(headers.get('cookie'), k.name);
        if (v === undefined || v === '') {
          missing ??= `cookie "${k.name}"`;
          parts.push(`c:${encodeURIComponent(k.name)}?ip=${encodeURIComponent(clientIp(headers))}`);
        } else parts.push(`c:${encodeURIComponent(k.name)}=${encodeURIComponent(v)}`);
        break;
      }
    }
  }
  return missing ? { key: parts.join('&'), missing } : { key: parts.join('&') };
}
