/**
 * JWKS per isolate: fetched once, refreshed in the background before it expires, refetched for an unknown `kid` at
 * most once per interval (Envoy jwt_authn remote_jwks, jose's cooldown). Clock and fetch are parameters.
 */
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { PublicJwk } from '../schema/securitypolicy.js';

export interface KeySet {
  getKey: JWTVerifyGetKey;
  kids: ReadonlySet<string>;
}

/** Only public signing keys with allowed algorithms; private members, `oct` and encryption keys are dropped. */
export function toKeySet(raw: unknown): KeySet | undefined {
  const list =
    typeof raw === 'object' && raw !== null && Array.isArray((raw as { keys?: unknown }).keys) ? (raw as { keys: unknown[] }).keys : [];
  const keys = list.slice(0, 64).filter((k) => PublicJwk.safeParse(k).success) as { kid?: string }[];
  if (!keys.length) return undefined;
  return {
    getKey: createLocalJWKSet({ keys: keys as never }),
    kids: new Set(keys.flatMap((k) => (typeof k.kid === 'string' ? [k.kid] : []))),
  };
}

export type KeyLookup = { ok: true; keys: KeySet } | { ok: false; reason: string };

export interface LookupContext {
  /** Epoch milliseconds. */
  now: number;
  /** The request's ExecutionContext.waitUntil: keeps a background refresh alive after the response. */
  waitUntil?: ((p: Promise<unknown>) => void) | undefined;
}

export interface JwksRegistryOptions {
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  /** Least time between two fetches of one URI caused by requests (unknown kid, failed refresh). Default 30 s. */
  minRefetchIntervalMs?: number;
  /** Cold start: how long after a failed first fetch requests are refused without fetching again. Default 5 s. */
  coldRetryMs?: number;
  /** Refresh when this share of cacheDuration has passed. Default 0.8. */
  refreshAt?: number;
  timeoutMs?: number;
  maxBytes?: number;
  log?: (line: Record<string, unknown>) => void;
}

export interface JwksRegistry {
  /** Keys of `uri` for a token whose header names `kid` (undefined: no kid). */
  lookup(uri: string, cacheDurationMs: number, kid: string | undefined, ctx: LookupContext): Promise<KeyLookup>;
  /** Fetches started per URI (for tests and metrics). */
  fetches(uri: string): number;
}

interface Entry {
  keys?: KeySet;
  fetchedAt: number;
  lastAttempt: number;
  inflight?: Promise<void>;
  lastError?: string;
  count: number;
}

export function createJwksRegistry(opts: JwksRegistryOptions): JwksRegistry {
  const minInterval = opts.minRefetchIntervalMs ?? 30_000;
  const coldRetry = opts.coldRetryMs ?? 5_000;
  const refreshShare = opts.refreshAt ?? 0.8;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const maxBytes = opts.maxBytes ?? 262_144;
  const entries = new Map<string, Entry>();

  async function load(uri: string): Promise<KeySet> {
    const res = await opts.fetch(uri, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`JWKS answered ${res.status}`);
    }
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > maxBytes) {
      await res.body?.cancel();
      throw new Error(`JWKS larger than ${maxBytes} bytes`);
    }
    const text = await res.text();
    if (text.length > maxBytes) throw new Error(`JWKS larger than ${maxBytes} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error('JWKS is not JSON');
    }
    const keys = toKeySet(parsed);
    if (!keys) throw new Error('JWKS has no usable public signing key');
    return keys;
  }

  function start(uri: string, e: Entry, now: number): Promise<void> {
    e.lastAttempt = now;
    e.count++;
    const p = load(uri).then(
      (keys) => {
        const before = e.keys?.kids;
        e.keys = keys;
        e.fetchedAt = now;
        e.lastError = undefined;
        if (before) {
          const added = [...keys.kids].filter((k) => !before.has(k));
          const removed = [...before].filter((k) => !keys.kids.has(k));
          if (added.length || removed.length) opts.log?.({ level: 'info', msg: 'jwks.rotated', uri, added, removed });
        }
      },
      (err: unknown) => {
        e.lastError = (err as Error).message;
        opts.log?.({ level: 'warn', msg: 'jwks.fetch_failed', uri, error: e.lastError, serving: e.keys ? 'previous keys' : 'nothing' });
      },
    );
    e.inflight = p.finally(() => {
      e.inflight = undefined;
    });
    return e.inflight;
  }

  /** Waits for another request's fetch, but never longer than a fetch may take (its request may have ended). */
  async function join(p: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs + 1_000)))]);
    if (timer !== undefined) clearTimeout(timer);
  }

  return {
    fetches: (uri) => entries.get(uri)?.count ?? 0,
    async lookup(uri, cacheMs, kid, ctx) {
      let e = entries.get(uri);
      if (!e) {
        e = { fetchedAt: -Infinity, lastAttempt: -Infinity, count: 0 };
        entries.set(uri, e);
      }
      const { now } = ctx;
      if (!e.keys) {
        if (!e.inflight) {
          if (now - e.lastAttempt < coldRetry) return { ok: false, reason: `jwks unavailable: ${e.lastError ?? 'loading'}` };
          start(uri, e, now);
        }
        await join(e.inflight!);
        return e.keys ? { ok: true, keys: e.keys } : { ok: false, reason: `jwks unavailable: ${e.lastError ?? 'timed out'}` };
      }
      // Background refresh before expiry; the current keys keep serving meanwhile (and if the refresh fails).
      if (!e.inflight && now - e.fetchedAt >= cacheMs * refreshShare && now - e.lastAttempt >= minInterval) {
        const p = start(uri, e, now);
        ctx.waitUntil?.(p);
      }
      if (kid !== undefined && !e.keys.kids.has(kid)) {
        // A kid we do not know: maybe a rotation. One refetch per interval, however many such tokens arrive.
        if (e.inflight) await join(e.inflight);
        else if (now - e.lastAttempt >= minInterval) await join(start(uri, e, now));
      }
      return { ok: true, keys: e.keys };
    },
  };
}
