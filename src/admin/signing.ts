/**
 * Agent request signing, shared by the agent (Node) and the admin API (Worker): the subset of RFC 9421 HTTP Message
 * Signatures (hmac-sha256) and RFC 9530 Content-Digest that Edgeway needs, on WebCrypto only. No secret is logged.
 *
 * Why not the `http-message-signatures` npm package: it signs with node:crypto (createHmac), node:constants and the
 * Buffer global, which the Worker does not have without the nodejs_compat polyfills, it does not produce or check
 * Content-Digest, and it verifies in one step, so it could not tell "bad signature" (cheap, no body needed) from "bad
 * body" (needs the whole body). The subset below is small: one signature label, a fixed list of covered components,
 * the structured-field syntax those headers use, and HMAC through crypto.subtle (constant-time verify).
 *
 *   Content-Digest:  sha-256=:<base64 SHA-256 of the body>:
 *   Signature-Input: edgeway=("@method" "@authority" "@path" "@query" "content-digest");created=<s>;expires=<s>;
 *                    nonce="<random>";keyid="<cluster>[/<key id>]";alg="hmac-sha256"[;tag="<audience>"]
 *   Signature:       edgeway=:<base64 HMAC-SHA256(key, signature base)>:
 *
 * The signature covers the target (`@authority`, and the configured audience as `tag`), so a signature made for
 * staging is refused by production; the body is bound through `content-digest`, which is checked against the body
 * only after the signature over the headers holds (cheap checks first).
 */

export const SIGNATURE_LABEL = 'edgeway';
export const SIGNATURE_ALG = 'hmac-sha256';
/** Components every agent signature must cover. */
export const REQUIRED_COMPONENTS = ['@method', '@authority', '@path', '@query', 'content-digest'] as const;
/** `created` is accepted within this distance of the server clock. */
export const MAX_SKEW_MS = 5 * 60_000;
/** Lifetime the agent gives its signatures (`expires` - `created`), and the most the Worker accepts. */
export const SIGNATURE_LIFETIME_S = 300;
/** Clock difference tolerated on `expires`. */
export const EXPIRY_GRACE_MS = 60_000;
/** A signature cannot verify later than this after it was first seen: the coordinator remembers it this long. */
export const REPLAY_WINDOW_MS = 2 * MAX_SKEW_MS + EXPIRY_GRACE_MS;
/** Largest agent body (a push of about 3,000 endpoints); larger ones get 413 without being read. */
export const MAX_AGENT_BODY_BYTES = 1024 * 1024;
/** Largest operator body (PUT /resources of thousands of routes). */
export const MAX_OPERATOR_BODY_BYTES = 8 * 1024 * 1024;

export const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9._]{0,126}[a-z0-9])?$/;
export const KEY_ID = /^[a-z0-9]([-a-z0-9._]{0,62}[a-z0-9])?$/;
/** Key id of a cluster whose AGENT_KEYS entry is a plain string. */
export const DEFAULT_KEY_ID = 'default';
/** Keys per cluster: the current one and, during a rotation, the next. */
export const MAX_KEYS_PER_CLUSTER = 2;

/** cluster -> key id -> secret. */
export type AgentKeys = Record<string, Record<string, string>>;

const enc = new TextEncoder();

function toBase64(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < u8.length; i++) s += String.fromCharCode(u8[i]!);
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array | null {
  try {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

const asBytes = (body: string | Uint8Array) => (typeof body === 'string' ? enc.encode(body) : body) as Uint8Array<ArrayBuffer>;

/** RFC 9530 Content-Digest field value for a body. */
export async function contentDigest(body: string | Uint8Array): Promise<string> {
  return `sha-256=:${toBase64(await crypto.subtle.digest('SHA-256', asBytes(body)))}:`;
}

// ---- RFC 8941 structured fields, the subset these three headers use ----

type Bare = number | string | boolean | { bytes: string } | { token: string };
interface Member {
  value: Bare | { inner: string[] };
  params: Record<string, Bare>;
}

class SfParser {
  i = 0;
  constructor(private readonly s: string) {}
  private ws() {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }
  private key(): string {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(this.s.slice(this.i));
    if (!m) throw new Error('key');
    this.i += m[0].length;
    return m[0];
  }
  private bare(): Bare {
    const c = this.s[this.i];
    if (c === '"') {
      let out = '';
      for (this.i++; this.i < this.s.length; this.i++) {
        const ch = this.s[this.i]!;
        if (ch === '\\') {
          const next = this.s[++this.i];
          if (next !== '"' && next !== '\\') throw new Error('escape');
          out += next;
        } else if (ch === '"') {
          this.i++;
          return out;
        } else if (ch < ' ' || ch > '~') throw new Error('string');
        else out += ch;
      }
      throw new Error('unterminated string');
    }
    if (c === ':') {
      const end = this.s.indexOf(':', this.i + 1);
      if (end < 0) throw new Error('bytes');
      const b = this.s.slice(this.i + 1, end);
      if (!/^[A-Za-z0-9+/=]*$/.test(b)) throw new Error('bytes');
      this.i = end + 1;
      return { bytes: b };
    }
    if (c === '?') {
      const v = this.s[this.i + 1];
      if (v !== '0' && v !== '1') throw new Error('boolean');
      this.i += 2;
      return v === '1';
    }
    const num = /^-?\d{1,15}/.exec(this.s.slice(this.i));
    if (num) {
      this.i += num[0].length;
      if (this.s[this.i] === '.') throw new Error('decimals are not used here');
      return Number(num[0]);
    }
    const tok = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*/.exec(this.s.slice(this.i));
    if (tok) {
      this.i += tok[0].length;
      return { token: tok[0] };
    }
    throw new Error('item');
  }
  private params(): Record<string, Bare> {
    const out: Record<string, Bare> = Object.create(null);
    while (this.s[this.i] === ';') {
      this.i++;
      this.ws();
      const k = this.key();
      if (k in out) throw new Error('duplicate parameter');
      if (this.s[this.i] === '=') {
        this.i++;
        out[k] = this.bare();
      } else out[k] = true;
    }
    return out;
  }
  private member(): Member {
    if (this.s[this.i] === '(') {
      this.i++;
      const inner: string[] = [];
      for (;;) {
        this.ws();
        if (this.s[this.i] === ')') {
          this.i++;
          break;
        }
        const v = this.bare();
        if (typeof v !== 'string') throw new Error('only strings in the component list');
        if (this.s[this.i] === ';') throw new Error('component parameters are not supported');
        inner.push(v);
        if (this.s[this.i] !== ' ' && this.s[this.i] !== ')') throw new Error('inner list');
      }
      return { value: { inner }, params: this.params() };
    }
    const value = this.bare();
    return { value, params: this.params() };
  }
  dictionary(): Map<string, Member> {
    const out = new Map<string, Member>();
    this.ws();
    while (this.i < this.s.length) {
      const k = this.key();
      if (this.s[this.i] !== '=') throw new Error('dictionary member without value');
      this.i++;
      out.set(k, this.member());
      this.ws();
      if (this.i >= this.s.length) break;
      if (this.s[this.i] !== ',') throw new Error('dictionary');
      this.i++;
      this.ws();
      if (this.i >= this.s.length) throw new Error('trailing comma');
    }
    return out;
  }
}

function parseDictionary(value: string | null): Map<string, Member> | null {
  if (value === null || value.length > 4096) return null;
  try {
    return new SfParser(value).dictionary();
  } catch {
    return null;
  }
}

const sfString = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

// ---- signature base (RFC 9421 section 2.5) ----

export interface SignatureParams {
  created: number;
  expires: number;
  nonce: string;
  keyid: string;
  alg: string;
  tag?: string | undefined;
}

/** `("@method" ...);created=..;...` exactly as it appears in Signature-Input and on the base's last line. */
function serializeParams(components: readonly string[], p: SignatureParams): string {
  return (
    `(${components.map(sfString).join(' ')})` +
    `;created=${p.created};expires=${p.expires};nonce=${sfString(p.nonce)};keyid=${sfString(p.keyid)};alg=${sfString(p.alg)}` +
    (p.tag === undefined ? '' : `;tag=${sfString(p.tag)}`)
  );
}

interface Target {
  method: string;
  url: URL;
  headers: Headers;
}

/** The value of one covered component, or null when the request lacks it. */
function componentValue(name: string, t: Target): string | null {
  switch (name) {
    case '@method':
      return t.method.toUpperCase();
    case '@authority':
      // WHATWG URL.host is lowercase and omits the scheme's default port, as RFC 9421 section 2.2.3 asks.
      return t.url.host;
    case '@path':
      return t.url.pathname || '/';
    case '@query':
      return t.url.search || '?';
    default:
      if (name.startsWith('@') || !/^[a-z0-9-]+$/.test(name)) return null;
      return t.headers.get(name)?.trim() ?? null;
  }
}

function signatureBase(components: readonly string[], params: string, t: Target): string | null {
  const lines: string[] = [];
  for (const c of components) {
    const v = componentValue(c, t);
    if (v === null) return null;
    lines.push(`${sfString(c)}: ${v}`);
  }
  lines.push(`"@signature-params": ${params}`);
  return lines.join('\n');
}

const hmacKey = (secret: string, usage: 'sign' | 'verify') =>
  crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);

/**
 * Headers an agent adds to a request: Content-Digest, Signature-Input and Signature. `url` is the full URL the
 * request goes to (its host is the audience); `keyid` is `<cluster>` or `<cluster>/<key id>`; `now` is ms.
 */
export async function signRequest(args: {
  secret: string;
  keyid: string;
  method: string;
  url: string;
  body: string | Uint8Array;
  now: number;
  nonce?: string;
  /** The edge's configured audience (EDGEWAY_AUDIENCE), when it has one. */
  tag?: string | undefined;
  lifetimeS?: number;
}): Promise<Record<string, string>> {
  const created = Math.floor(args.now / 1000);
  const params: SignatureParams = {
    created,
    expires: created + (args.lifetimeS ?? SIGNATURE_LIFETIME_S),
    nonce: args.nonce ?? crypto.randomUUID(),
    keyid: args.keyid,
    alg: SIGNATURE_ALG,
    tag: args.tag,
  };
  const digest = await contentDigest(args.body);
  const headers = new Headers({ 'content-digest': digest });
  const serialized = serializeParams(REQUIRED_COMPONENTS, params);
  const base = signatureBase(REQUIRED_COMPONENTS, serialized, { method: args.method, url: new URL(args.url), headers });
  const sig = await crypto.subtle.sign('HMAC', await hmacKey(args.secret, 'sign'), enc.encode(base!));
  return {
    'content-digest': digest,
    'signature-input': `${SIGNATURE_LABEL}=${serialized}`,
    signature: `${SIGNATURE_LABEL}=:${toBase64(sig)}:`,
  };
}

/** Why a request was refused. Logged only: every refusal looks the same to the caller. */
export type RefusalReason =
  | 'missing-headers'
  | 'malformed-signature'
  | 'unsupported-components'
  | 'bad-algorithm'
  | 'bad-timestamp'
  | 'expired'
  | 'wrong-audience'
  | 'unknown-key'
  | 'bad-signature'
  | 'bad-digest';

export type SignatureCheck =
  | { ok: true; cluster: string; keyid: string; signature: string; created: number; contentDigest: string }
  | { ok: false; reason: RefusalReason };

/**
 * Verifies the signature over the request's headers, without touching its body: header presence and syntax, the
 * time window, the audience, the key, the HMAC. The body is then checked against the signed Content-Digest with
 * `checkContentDigest`. Replay protection (remembering the signature) is the coordinator's job.
 */
export async function checkSignature(args: {
  headers: Headers;
  method: string;
  url: string | URL;
  keys: AgentKeys;
  now: number;
  /** EDGEWAY_AUDIENCE: when set, signatures must carry it as `tag`; when not, they must carry no tag. */
  audience?: string | undefined;
}): Promise<SignatureCheck> {
  const { headers } = args;
  const inputs = parseDictionary(headers.get('signature-input'));
  const sigs = parseDictionary(headers.get('signature'));
  const digestHeader = headers.get('content-digest');
  if (!inputs || !sigs || digestHeader === null) return { ok: false, reason: 'missing-headers' };
  const input = inputs.get(SIGNATURE_LABEL);
  const sigItem = sigs.get(SIGNATURE_LABEL)?.value;
  if (!input || !sigItem || typeof sigItem !== 'object' || !('bytes' in sigItem)) return { ok: false, reason: 'missing-headers' };
  if (typeof input.value !== 'object' || !('inner' in input.value)) return { ok: false, reason: 'malformed-signature' };
  const components = input.value.inner;
  if (new Set(components).size !== components.length || !REQUIRED_COMPONENTS.every((c) => components.includes(c)))
    return { ok: false, reason: 'unsupported-components' };
  const p = input.params;
  const known = new Set(['created', 'expires', 'nonce', 'keyid', 'alg', 'tag']);
  if (Object.keys(p).some((k) => !known.has(k))) return { ok: false, reason: 'malformed-signature' };
  if (p.alg !== SIGNATURE_ALG) return { ok: false, reason: 'bad-algorithm' };
  const { created, expires, nonce, keyid, tag } = p;
  if (typeof created !== 'number' || typeof expires !== 'number' || !Number.isSafeInteger(created) || !Number.isSafeInteger(expires))
    return { ok: false, reason: 'bad-timestamp' };
  if (typeof nonce !== 'string' || nonce.length < 8 || nonce.length > 128 || typeof keyid !== 'string')
    return { ok: false, reason: 'malformed-signature' };
  if (tag !== undefined && typeof tag !== 'string') return { ok: false, reason: 'malformed-signature' };
  if (
    Math.abs(args.now - created * 1000) > MAX_SKEW_MS ||
    expires <= created ||
    expires - created > SIGNATURE_LIFETIME_S ||
    args.now > expires * 1000 + EXPIRY_GRACE_MS
  )
    return { ok: false, reason: 'expired' };
  if ((args.audience || undefined) !== tag) return { ok: false, reason: 'wrong-audience' };

  const url = typeof args.url === 'string' ? new URL(args.url) : args.url;
  const params: SignatureParams = { created, expires, nonce, keyid, alg: SIGNATURE_ALG, tag };
  const base = signatureBase(components, serializeParams(components, params), { method: args.method, url, headers });
  const signature = fromBase64(sigItem.bytes);
  if (base === null || !signature || signature.length !== 32) return { ok: false, reason: 'malformed-signature' };

  const [cluster, kid, ...rest] = keyid.split('/');
  const clusterKeys = cluster && rest.length === 0 && Object.hasOwn(args.keys, cluster) ? args.keys[cluster]! : undefined;
  const candidates = !clusterKeys
    ? []
    : kid === undefined
      ? Object.values(clusterKeys)
      : Object.hasOwn(clusterKeys, kid)
        ? [clusterKeys[kid]!]
        : [];
  // An unknown key still costs one HMAC verification, so the answer takes about as long as for a wrong signature.
  let valid = false;
  for (const secret of candidates.length ? candidates : ['edgeway-unknown-key-placeholder'])
    if (await crypto.subtle.verify('HMAC', await hmacKey(secret, 'verify'), signature as Uint8Array<ArrayBuffer>, enc.encode(base)))
      valid = true;
  if (!candidates.length) return { ok: false, reason: 'unknown-key' };
  if (!valid) return { ok: false, reason: 'bad-signature' };
  // The replay memory keys on the canonical encoding: base64 has spellings that decode to the same bytes.
  return { ok: true, cluster: cluster!, keyid, signature: toBase64(signature), created: created * 1000, contentDigest: digestHeader };
}

/** Whether a body matches the (signed) Content-Digest header: its sha-256 member must be present and equal. */
export async function checkContentDigest(header: string, body: string | Uint8Array): Promise<boolean> {
  const dict = parseDictionary(header);
  const claimed = dict?.get('sha-256')?.value;
  if (!claimed || typeof claimed !== 'object' || !('bytes' in claimed)) return false;
  const want = fromBase64(claimed.bytes);
  const got = new Uint8Array(await crypto.subtle.digest('SHA-256', asBytes(body)));
  if (!want || want.length !== got.length) return false;
  let diff = 0;
  for (let i = 0; i < got.length; i++) diff |= got[i]! ^ want[i]!;
  return diff === 0;
}

/**
 * Headers, then body, in one call (tests and loopback stand-ins). `url` is the full URL; `path` plus the Host header
 * is accepted too. Keys may be the parsed AGENT_KEYS or a plain cluster -> secret map.
 */
export async function verifyRequest(args: {
  headers: Headers;
  method: string;
  url?: string;
  path?: string;
  body: string | Uint8Array;
  keys: AgentKeys | Record<string, string>;
  now: number;
  audience?: string;
}): Promise<SignatureCheck> {
  const url = args.url ?? `http://${args.headers.get('host') ?? 'localhost'}${args.path ?? '/'}`;
  const keys: AgentKeys = Object.create(null);
  for (const [c, v] of Object.entries(args.keys)) keys[c] = typeof v === 'string' ? { [DEFAULT_KEY_ID]: v } : v;
  const r = await checkSignature({ headers: args.headers, method: args.method, url, keys, now: args.now, audience: args.audience });
  if (!r.ok) return r;
  return (await checkContentDigest(r.contentDigest, args.body)) ? r : { ok: false, reason: 'bad-digest' };
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

/**
 * Parses the AGENT_KEYS secret: `{"<cluster>": "<secret>"}` (one key, id "default") or
 * `{"<cluster>": {"<key id>": "<secret>", ...}}` with at most two keys (rotation). Secrets need 16+ characters.
 * A malformed entry is dropped (its cluster gets no key: fail closed) and named in `problems`, never its secret.
 */
export function parseAgentKeysDetailed(raw: string | undefined): { keys: AgentKeys; problems: string[] } {
  const keys: AgentKeys = Object.create(null);
  const problems: string[] = [];
  if (!raw) return { keys, problems };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { keys, problems: ['AGENT_KEYS is not JSON'] };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { keys, problems: ['AGENT_KEYS is not a JSON object'] };
  for (const [cluster, v] of Object.entries(parsed)) {
    if (!CLUSTER_NAME.test(cluster)) {
      problems.push(`AGENT_KEYS: "${cluster.slice(0, 64)}" is not a cluster id`);
      continue;
    }
    if (typeof v === 'string') {
      if (v.length >= 16) keys[cluster] = { [DEFAULT_KEY_ID]: v };
      else problems.push(`AGENT_KEYS.${cluster}: key shorter than 16 characters`);
      continue;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      problems.push(`AGENT_KEYS.${cluster}: expected a key or an object of key id -> key`);
      continue;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    const bad = entries.find(([kid, s]) => !KEY_ID.test(kid) || typeof s !== 'string' || s.length < 16);
    if (entries.length === 0 || entries.length > MAX_KEYS_PER_CLUSTER || bad) {
      problems.push(
        `AGENT_KEYS.${cluster}: ${bad ? `key "${bad[0].slice(0, 64)}" is invalid (ids are lowercase, keys 16+ characters)` : `expected 1 or ${MAX_KEYS_PER_CLUSTER} keys`}`,
      );
      continue;
    }
    keys[cluster] = Object.assign(Object.create(null) as Record<string, string>, Object.fromEntries(entries as [string, string][]));
  }
  return { keys, problems };
}

export const parseAgentKeys = (raw: string | undefined): AgentKeys => parseAgentKeysDetailed(raw).keys;
