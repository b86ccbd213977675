/** Session persistence (GEP-1619): the session key a client presents, or a new one for it to keep. */
import type { SessionPersistence } from '../schema.js';

export const DEFAULT_SESSION_NAME = 'edgeway-session';
const SESSION_VALUE = /^[A-Za-z0-9._~-]{8,128}$/;

export interface SessionKey {
  name: string;
  key: string;
  /** True when the edge minted the key, so the response must hand it to the client. */
  minted: boolean;
}

export function readSession(config: SessionPersistence, headers: Headers, mint: () => string): SessionKey {
  const name = config.sessionName ?? DEFAULT_SESSION_NAME;
  const presented = config.type === 'Header' ? headers.get(name) : cookieValue(headers.get('cookie'), name);
  // A malformed key is treated as absent rather than trusted into the hash.
  if (presented && SESSION_VALUE.test(presented)) return { name, key: presented, minted: false };
  return { name, key: mint(), minted: true };
}

export function cookieValue(cookieHeader: string | null, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Hands a minted key to the client: a cookie (Path=/ as GEP-1619 says) or a response header. */
export function issueSession(
  config: SessionPersistence,
  session: SessionKey,
  headers: Headers,
  secure: boolean,
  absoluteTimeoutS?: number,
): void {
  if (!session.minted) return;
  if (config.type === 'Header') {
    headers.set(session.name, session.key);
    return;
  }
  const permanent = config.cookieConfig?.lifetimeType === 'Permanent' && absoluteTimeoutS;
  const attrs = [`${session.name}=${session.key}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (secure) attrs.push('Secure');
  if (permanent) attrs.push(`Max-Age=${absoluteTimeoutS}`);
  headers.append('set-cookie', attrs.join('; '));
}
