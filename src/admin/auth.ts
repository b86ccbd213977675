/** Admin API authentication: operator bearer token and per-cluster signed agents. Refusals are uniform; reasons go to the log. */
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Env } from '../env.js';
import { readLimited } from './body.js';
import type { AdminEnv } from './env.js';
import {
  MAX_AGENT_BODY_BYTES,
  MAX_OPERATOR_BODY_BYTES,
  checkContentDigest,
  checkSignature,
  constantTimeEqual,
  parseAgentKeysDetailed,
  type AgentKeys,
} from './signing.js';

export type AdminVars = { cluster: string; signature: string };
export type AdminBindings = { Bindings: AdminEnv; Variables: AdminVars };

/** Operator tokens shorter than this are treated as not configured. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

const log = (line: Record<string, unknown>) => console.log(JSON.stringify({ level: 'warn', ...line }));

/**
 * The one 401 every authentication failure gets, whatever the reason (unknown cluster, bad signature, expired,
 * replayed, wrong audience, missing or wrong token): an unauthenticated caller learns nothing from it.
 */
export function unauthorized(route: string, reason: string, detail: Record<string, unknown> = {}): Response {
  log({ event: 'admin.auth.refused', route, status: 401, reason, ...detail });
  return new Response(JSON.stringify({ error: 'unauthorized' }), {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="edgeway", Signature realm="edgeway"' },
  });
}

/** An authenticated caller asking for something it may not do (an agent writing for another cluster). */
export function forbidden(route: string, reason: string, cluster: string): Response {
  log({ event: 'admin.auth.refused', route, status: 403, reason, cluster });
  return new Response(JSON.stringify({ error: 'forbidden', message: reason }), {
    status: 403,
    headers: { 'content-type': 'application/json' },
  });
}

function bodyRefused(route: string, status: 400 | 413, reason: string, limit: number): Response {
  log({ event: 'admin.body.refused', route, status, reason });
  const body = status === 413 ? { error: 'payload too large', limit } : { error: 'bad request', message: reason };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** Operator check, shared by the admin API and /_edgeway/health: bearer ADMIN_TOKEN (16+ characters), constant time. */
export async function checkOperator(
  request: Request,
  env: Pick<Env, 'ADMIN_TOKEN'>,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const expected = env.ADMIN_TOKEN;
  if (!expected || expected.length < MIN_ADMIN_TOKEN_LENGTH) return { ok: false, reason: 'admin token not configured' };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
  if (!m) return { ok: false, reason: 'missing token' };
  return (await constantTimeEqual(m[1]!, expected)) ? { ok: true } : { ok: false, reason: 'bad token' };
}

/** Makes the validated bytes the body every later reader (the zod validator) sees. */
function cacheBody(c: Context, bytes: Uint8Array) {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  (c.req.bodyCache as { arrayBuffer?: Promise<ArrayBuffer> }).arrayBuffer = Promise.resolve(buffer as ArrayBuffer);
}

const hasBody = (method: string) => method !== 'GET' && method !== 'HEAD';

/** Operators: `Authorization: Bearer <ADMIN_TOKEN>`, then a body of at most MAX_OPERATOR_BODY_BYTES. */
export const operatorAuth = createMiddleware<AdminBindings>(async (c, next) => {
  const auth = await checkOperator(c.req.raw, c.env);
  if (!auth.ok) return unauthorized(c.req.path, auth.reason);
  if (hasBody(c.req.method)) {
    const body = await readLimited(c.req.raw, MAX_OPERATOR_BODY_BYTES);
    if (!body.ok) return bodyRefused(c.req.path, body.status, body.reason, MAX_OPERATOR_BODY_BYTES);
    cacheBody(c, body.bytes);
  }
  await next();
});

// AGENT_KEYS is parsed once per value (per isolate), and what is wrong with it is logged once, never a secret.
let parsedKeys: { raw: string | undefined; keys: AgentKeys } | undefined;
export function agentKeys(env: Pick<Env, 'AGENT_KEYS'>): AgentKeys {
  if (parsedKeys && parsedKeys.raw === env.AGENT_KEYS) return parsedKeys.keys;
  const { keys, problems } = parseAgentKeysDetailed(env.AGENT_KEYS);
  for (const p of problems) console.log(JSON.stringify({ level: 'error', event: 'admin.agent_keys.invalid', problem: p }));
  parsedKeys = { raw: env.AGENT_KEYS, keys };
  return keys;
}

/**
 * Agents: RFC 9421 signature over method, authority, path, query and Content-Digest (src/admin/signing.ts). Cheap
 * checks first: the signature headers, time window, audience and key are checked without touching the body; then
 * Content-Length against MAX_AGENT_BODY_BYTES; only then is the body read (counted, abandoned past the limit) and
 * compared with the signed digest. Replays are refused by the coordinator.
 */
export const agentAuth = createMiddleware<AdminBindings>(async (c, next) => {
  const sig = await checkSignature({
    headers: c.req.raw.headers,
    method: c.req.method,
    url: c.req.url,
    keys: agentKeys(c.env),
    now: Date.now(),
    audience: c.env.EDGEWAY_AUDIENCE,
  });
  const claimed = /keyid="([^"]{0,160})"/.exec(c.req.header('signature-input') ?? '')?.[1];
  if (!sig.ok) return unauthorized(c.req.path, sig.reason, claimed ? { keyid: claimed } : {});
  const body = await readLimited(c.req.raw, MAX_AGENT_BODY_BYTES);
  if (!body.ok) return bodyRefused(c.req.path, body.status, body.reason, MAX_AGENT_BODY_BYTES);
  if (!(await checkContentDigest(sig.contentDigest, body.bytes))) return unauthorized(c.req.path, 'bad-digest', { keyid: sig.keyid });
  cacheBody(c, body.bytes);
  c.set('cluster', sig.cluster);
  c.set('signature', sig.signature);
  await next();
});

/** ADMIN_HOSTNAME, when set: the admin API answers only on that host (404 elsewhere, as if it were not there). */
export const adminHost = createMiddleware<AdminBindings>(async (c, next) => {
  const want = c.env.ADMIN_HOSTNAME?.trim().toLowerCase();
  if (want && new URL(c.req.url).hostname.toLowerCase() !== want)
    return new Response(JSON.stringify({ error: 'not found' }), { status: 404, headers: { 'content-type': 'application/json' } });
  await next();
});
