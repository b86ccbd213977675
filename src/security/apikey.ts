/** API keys (Envoy Gateway `apiKeyAuth`, Kong key-auth): SHA-256 of the presented key against consumers' key hashes. */
import type { ApiKeyAuthentication } from '../schema.js';
import { extractCredential, MAX_CREDENTIAL_LENGTH, type CredentialLocation, type CredentialSources } from './extract.js';

const encoder = new TextEncoder();

const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** `sha256:<hex>` of the key's UTF-8 bytes: what route files store, what `edgeway hash-key` prints. */
export async function hashApiKey(key: string): Promise<string> {
  return `sha256:${toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(key))))}`;
}

const fromHex = (hex: string) => {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
};

/** Compares every byte whatever the first difference is: time depends on the length only. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export interface KeyEntry {
  consumer: string;
  digest: Uint8Array;
}

/**
 * The consumer whose key hash equals `digest`. Every entry is compared, and a match does not end the loop, so the
 * time taken does not tell where (or whether) the key is in the list. `compare` is a parameter for tests.
 */
export function findConsumer(
  digest: Uint8Array,
  entries: readonly KeyEntry[],
  compare: (a: Uint8Array, b: Uint8Array) => boolean = timingSafeEqual,
): string | undefined {
  let found: string | undefined;
  for (const e of entries) {
    const same = compare(digest, e.digest);
    if (same && found === undefined) found = e.consumer;
  }
  return found;
}

export type ApiKeyResult =
  | { status: 'absent' }
  | { status: 'invalid'; reason: string; location?: CredentialLocation }
  | { status: 'ok'; consumer: string; location: CredentialLocation };

export interface CompiledApiKeyAuth {
  optional: boolean;
  /** Lowercase: the header that carries the consumer name upstream; a client-sent one is always removed. */
  consumerHeader: string;
  /** Every place a key may be read from: all are removed before the upstream, wherever the key was found. */
  sources: CredentialSources;
  authenticate(headers: Headers, url: URL): Promise<ApiKeyResult>;
}

export function compileApiKeyAuth(spec: ApiKeyAuthentication): CompiledApiKeyAuth {
  const entries: KeyEntry[] = spec.consumers.flatMap((c) =>
    c.keyHashes.map((h) => ({ consumer: c.name, digest: fromHex(h.slice('sha256:'.length)) })),
  );
  const from = spec.extractFrom;
  const sources: CredentialSources =
    from && (from.headers?.length || from.params?.length || from.cookies?.length)
      ? { headers: from.headers?.map((name) => ({ name })), cookies: from.cookies, params: from.params }
      : { headers: [{ name: 'x-api-key' }] };
  return {
    optional: spec.optional,
    consumerHeader: spec.forwardConsumerHeader.toLowerCase(),
    sources,
    async authenticate(headers, url) {
      const found = extractCredential(sources, headers, url);
      if (!found) return { status: 'absent' };
      if (found.value.length > MAX_CREDENTIAL_LENGTH) return { status: 'invalid', reason: 'api key too long', location: found.location };
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(found.value)));
      const consumer = findConsumer(digest, entries);
      return consumer === undefined
        ? { status: 'invalid', reason: 'unknown api key', location: found.location }
        : { status: 'ok', consumer, location: found.location };
    },
  };
}
