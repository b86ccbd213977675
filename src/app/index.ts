/** The Hono app: internal endpoints under /_edgeway, everything else goes through the gateway. */
import { Hono } from 'hono';
import { ADMIN_BASE_PATH, adminApp } from '../admin/app.js';
import { checkOperator, unauthorized } from '../admin/auth.js';
import type { Env } from '../env.js';
import { healthPage } from '../health/page.js';
import { refreshActiveHealth } from '../health/refresh.js';
import { IsolateHealth } from '../health/registry.js';
import { RetryBudget } from '../health/retry.js';
import { TableCache } from '../table/cache.js';
import { devFetch } from '../proxy/dev-fetch.js';
import { pathPolicyFrom } from '../routing/normalize.js';
import { serveRequest } from './gateway.js';

const log = (line: Record<string, unknown>) => console.log(JSON.stringify({ at: new Date().toISOString(), ...line }));

// Per-isolate state: the compiled routing table and what this isolate has learned about endpoint health.
const tables = new TableCache(log);
const health = new IsolateHealth({ retryBudget: new RetryBudget() });

export const app = new Hono<{ Bindings: Env }>();

/** Loads the newest table now instead of at the next background refresh (tests and the dev server use it). */
export const refreshTableNow = (env: Env) => tables.refresh(env.ROUTES, Date.now());
/** This isolate's health registry (tests inspect and reset it). */
export const isolateHealth = health;

const loadTable = (env: Env, ctx: { waitUntil(p: Promise<unknown>): void }) => {
  const refreshMs = Number(env.TABLE_REFRESH_SECONDS ?? '5') * 1000;
  tables.setRefreshMs(refreshMs);
  return tables.get(env.ROUTES, Date.now(), (p) => ctx.waitUntil(p));
};

app.get('/_edgeway/health', async (c) => {
  // The admin API's own operator check (bearer ADMIN_TOKEN, 16+ characters, constant time), in dev too: no client
  // header (CF-Connecting-IP can be sent by anyone) decides who is an operator. Locally: --var ADMIN_TOKEN:...
  const auth = await checkOperator(c.req.raw, c.env);
  if (!auth.ok) return unauthorized(c.req.path, auth.reason);
  const table = await loadTable(c.env, c.executionCtx);
  return healthPage(health.describe(Date.now(), table?.snapshot.backends ?? []));
});

app.route(ADMIN_BASE_PATH, adminApp);

app.all('*', async (c) => {
  const table = await loadTable(c.env, c.executionCtx);
  return serveRequest(c.req.raw, table, {
    health,
    fetch: isLocal(c.env) ? devFetch((r) => fetch(r)) : (r) => fetch(r),
    now: () => Date.now(),
    rand: Math.random,
    log,
    debugHeaders: c.env.DEBUG_HEADERS !== 'off',
    pathPolicy: pathPolicyFrom(c.env),
    waitUntil: (p) => c.executionCtx.waitUntil(p),
    rateLimiter: c.env.RATE_LIMITER,
    observeBackend: (backend) => {
      const job = refreshActiveHealth(health, c.env.HEALTH, [backend], Date.now(), log);
      if (job) c.executionCtx.waitUntil(job);
    },
  });
});

/** dev and test run in miniflare on one machine; production never sets EDGEWAY_ENV. */
function isLocal(env: Env): boolean {
  return env.EDGEWAY_ENV === 'dev' || env.EDGEWAY_ENV === 'test';
}
