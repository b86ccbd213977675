/** HMAC-SHA256 request signing shared by the agent (Node) and the admin API (Worker): WebCrypto only, no secrets logged. */

export const HEADER_CLUSTER = 'x-edgeway-cluster';
export const HEADER_TIMESTAMP = 'x-edgeway-timestamp';
export const HEADER_SIGNATURE = 'x-edgeway-signature';
/** Random per request, so two identical requests in the same second still differ (the coordinator refuses repeats). */
export const HEADER_NONCE = 'x-edgeway-nonce';
/** Requests are accepted within this distance of the server clock, and their signatures remembered this long. */
export const MAX_SKEW_MS = 5 * 60_000;
const SCHEME = 'EDGEWAY-HMAC-SHA256';

const enc = new TextEncoder();

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(body: string | Uint8Array): Promise<string> {
  const bytes = typeof body === 'string' ? enc.encode(body) : body;
  return hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/** The string that is signed: every part an attacker could change to reuse a signature elsewhere. */
export function canonicalRequest(parts: {
  method: string;
  path: string;
  timestamp: string;
  nonce: string;
  cluster: string;
  bodyDigest: string;
}) {
  return [SCHEME, parts.method.toUpperCase(), parts.path, parts.timestamp, parts.nonce, parts.cluster, parts.bodyDigest].join('\n');
}

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return hex(await crypto.subtle.sign('HMAC', key, enc.encode(message)));
}

/** Headers an agent adds to a request. `path` is the URL's pathname plus search. `now` is ms since the epoch. */
export async function signRequest(args: {
  secret: string;
  cluster: string;
  method: string;
  path: string;
  body: string;
  now: number;
  nonce?: string;
}) {
  const timestamp = String(Math.floor(args.now / 1000));
  const nonce = args.nonce ?? crypto.randomUUID();
  const bodyDigest = await sha256Hex(args.body);
  const signature = await hmacHex(
    args.secret,
    canonicalRequest({ method: args.method, path: args.path, timestamp, nonce, cluster: args.cluster, bodyDigest }),
  );
  return { [HEADER_CLUSTER]: args.cluster, [HEADER_TIMESTAMP]: timestamp, [HEADER_NONCE]: nonce, [HEADER_SIGNATURE]: `v1=${signature}` };
}

/**
 * Compares two strings without an early exit. Both sides are hashed first so the comparison time does not depend
 * on where they differ or on their lengths.
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([crypto.subtle.digest('SHA-256', enc.encode(a)), crypto.subtle.digest('SHA-256', enc.encode(b))]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export type VerifyResult =
  | { ok: true; cluster: string; signature: string; timestamp: number }
  | { ok: false; status: 401; reason: 'missing-headers' | 'unknown-cluster' | 'bad-timestamp' | 'expired' | 'bad-signature' };

/** Checks an agent request. Replay protection (remembering the signature) is the coordinator's job. */
export async function verifyRequest(args: {
  headers: Headers;
  method: string;
  path: string;
  body: string;
  keys: Record<string, string>;
  now: number;
}): Promise<VerifyResult> {
  const cluster = args.headers.get(HEADER_CLUSTER);
  const ts = args.headers.get(HEADER_TIMESTAMP);
  const sig = args.headers.get(HEADER_SIGNATURE);
  const nonce = args.headers.get(HEADER_NONCE);
  if (!cluster || !ts || !sig || !nonce || nonce.length > 128) return { ok: false, status: 401, reason: 'missing-headers' };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, status: 401, reason: 'bad-timestamp' };
  const timestamp = Number(ts) * 1000;
  if (Math.abs(args.now - timestamp) > MAX_SKEW_MS) return { ok: false, status: 401, reason: 'expired' };
  const secret = Object.hasOwn(args.keys, cluster) ? args.keys[cluster] : undefined;
  // Sign with a dummy key for unknown clusters so both paths take about the same time.
  const expected = await hmacHex(
    secret ?? 'edgeway-unknown-cluster',
    canonicalRequest({ method: args.method, path: args.path, timestamp: ts, nonce, cluster, bodyDigest: await sha256Hex(args.body) }),
  );
  const match = await constantTimeEqual(`v1=${expected}`, sig);
  if (!secret) return { ok: false, status: 401, reason: 'unknown-cluster' };
  if (!match) return { ok: false, status: 401, reason: 'bad-signature' };
  return { ok: true, cluster, signature: sig, timestamp };
}

export const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9._]{0,126}[a-z0-9])?$/;

/** Parses the AGENT_KEYS secret (JSON object cluster -> secret). Malformed input yields no keys: fail closed. */
export function parseAgentKeys(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const out: Record<string, string> = Object.create(null);
    for (const [k, v] of Object.entries(parsed)) if (CLUSTER_NAME.test(k) && typeof v === 'string' && v.length >= 16) out[k] = v;
    return out;
  } catch {
    return {};
  }
}
