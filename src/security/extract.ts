/** Reading a credential from a header (with a prefix), a cookie or a query parameter, and saying how to remove it. */
import { readCookie } from '../proxy/headers.js';

export interface CredentialSources {
  headers?: { name: string; valuePrefix?: string | undefined }[] | undefined;
  cookies?: string[] | undefined;
  params?: string[] | undefined;
}

/** Where a credential was found: what the upstream request must lose so the credential does not travel on. */
export type CredentialLocation = { type: 'header'; name: string } | { type: 'cookie'; name: string } | { type: 'param'; name: string };

export interface Extracted {
  value: string;
  location: CredentialLocation;
}

/** Longer than any real token or key; a bigger value is not hashed or parsed, only refused. */
export const MAX_CREDENTIAL_LENGTH = 16_384;

/** The Cookie header without the named cookies; undefined when nothing is left. */
export function withoutCookies(header: string, names: ReadonlySet<string>): string | undefined {
  const kept = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => {
      if (!p) return false;
      const eq = p.indexOf('=');
      return !names.has((eq < 0 ? p : p.slice(0, eq)).trim());
    });
  return kept.length ? kept.join('; ') : undefined;
}

/**
 * The first credential present, in the order headers, cookies, params (each in the order listed). A header whose
 * value lacks the prefix does not count as present. Empty values do not count either.
 */
export function extractCredential(sources: CredentialSources, headers: Headers, url: URL): Extracted | undefined {
  for (const h of sources.headers ?? []) {
    const raw = headers.get(h.name);
    if (raw === null) continue;
    let v = raw;
    if (h.valuePrefix) {
      if (v.length < h.valuePrefix.length || v.slice(0, h.valuePrefix.length).toLowerCase() !== h.valuePrefix.toLowerCase()) continue;
      v = v.slice(h.valuePrefix.length);
    }
    v = v.trim();
    if (v) return { value: v, location: { type: 'header', name: h.name.toLowerCase() } };
  }
  if (sources.cookies?.length) {
    const cookie = headers.get('cookie');
    for (const name of sources.cookies) {
      const v = readCookie(cookie, name);
      if (v) return { value: v, location: { type: 'cookie', name } };
    }
  }
  for (const name of sources.params ?? []) {
    const v = url.searchParams.get(name);
    if (v) return { value: v, location: { type: 'param', name } };
  }
  return undefined;
}
