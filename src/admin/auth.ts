/** Admin API authentication: operator bearer token and per-cluster HMAC signatures. Refusals log no secret. */
import { createMiddleware } from 'hono/factory';
import type { AdminEnv } from './env.js';
import { constantTimeEqual, parseAgentKeys, verifyRequest } from './signing.js';

export type AdminVars = { cluster: string; signature: string; rawBody: string };
export type AdminBindings = { Bindings: AdminEnv; Variables: AdminVars };

const refuse = (route: string, status: 401 | 403, reason: string, cluster?: string) => {
  console.log(JSON.stringify({ level: 'warn', event: 'admin.auth.refused', route, status, reason, ...(cluster ? { cluster } : {}) }));
  return new Response(JSON.stringify({ error: status === 401 ? 'unauthorized' : 'forbidden', reason }), {
    status,
    headers: { 'content-type': 'application/json', ...(status === 401 ? { 'www-authenticate': 'Bearer realm="edgeway"' } : {}) },
  });
};

/** Operators: `Authorization: Bearer <ADMIN_TOKEN>`. No token configured means nobody gets in. */
export const operatorAuth = createMiddleware<AdminBindings>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  const header = c.req.header('authorization') ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!expected || expected.length < 16) return refuse(c.req.path, 401, 'admin token not configured');
  if (!m || !(await constantTimeEqual(m[1]!, expected))) return refuse(c.req.path, 401, m ? 'bad token' : 'missing token');
  await next();
});

/** Agents: HMAC over method, path, body digest and timestamp. Replays are refused by the coordinator. */
export const agentAuth = createMiddleware<AdminBindings>(async (c, next) => {
  const url = new URL(c.req.url);
  const body = await c.req.text();
  const result = await verifyRequest({
    headers: c.req.raw.headers,
    method: c.req.method,
    path: url.pathname + url.search,
    body,
    keys: parseAgentKeys(c.env.AGENT_KEYS),
    now: Date.now(),
  });
  if (!result.ok) return refuse(c.req.path, result.status, result.reason);
  c.set('cluster', result.cluster);
  c.set('signature', result.signature);
  c.set('rawBody', body);
  await next();
});

export { refuse };
