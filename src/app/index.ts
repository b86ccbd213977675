/** The Hono app: internal endpoints under /_edgeway, everything else goes through the gateway. */
import { Hono } from 'hono';
import { ADMIN_BASE_PATH, adminApp } from '../admin/app.js';
import { checkOperator, unauthorized } from '../admin/auth.js';
import { provideExplainSource } from '../admin/explain.js';
import type { Env } from '../env.js';
import { healthPage } from '../health/page.js';
import { refreshActiveHealth } from '../health/refresh.js';
import { IsolateHealth } from '../health/registry.js';
import { isolateMetrics } from '../metrics/sink.js';
import { RetryBudget } from '../health/retry.js';
import { TableCache } from '../table/cache.js';
import { devFetch } from '../proxy/dev-fetch.js';
import { requestHostFromHeader } from '../routing/hostname.js';
import { pathPolicyFrom, type PathPolicy } from '../routing/normalize.js';
import { UI_BASE_PATH, uiApp } from '../ui/serve.js';
import { serveRequest } from './gateway.js';

const log = (line: Record<string, unknown>) => console.log(JSON.stringify({ at: new Date().toISOString(), ...line }));
/** The access log's ready-made lines (src/app/stages/access-log.ts builds them with the same shape as `log`). */
const writeLine = (json: string) => console.log(json);

// Per-isolate state: the compiled routing table and what this isolate has learned about endpoint health.
const tables = new TableCache(log);
const health = new IsolateHealth({ retryBudget: new RetryBudget() });

export const app = new Hono<{ Bindings: Env }>();

/** Loads the newest table now instead of at the next background refresh (tests and the dev server use it). */
export const refreshTableNow = (env: Env) => tables.refresh(env.ROUTES, Date.now());
/** This isolate's health registry (tests inspect and reset it). */
export const isolateHealth = health;

/** `host` picks the shard of a sharded table (src/table/shard.ts); without it a sharded table is its index alone. */
const loadTable = (env: Env, ctx: { waitUntil(p: Promise<unknown>): void }, host?: string) => {
  const refreshMs = Number(env.TABLE_REFRESH_SECONDS ?? '5') * 1000;
  tables.setRefreshMs(refreshMs);
  return tables.get(env.ROUTES, Date.now(), (p) => ctx.waitUntil(p), host);
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
// POST /_edgeway/v1/explain runs the gateway's stages over this isolate's table and health.
provideExplainSource({ table: loadTable, health });
// The dashboard: static files only; every piece of data it shows comes from the admin API with the operator token.
app.route(UI_BASE_PATH, uiApp);

app.all('*', async (c) => {
  // The same host the normalise stage matches on; a malformed one is refused there, whatever shard it picked here.
  const table = await loadTable(c.env, c.executionCtx, requestHostFromHeader(c.req.header('host') ?? new URL(c.req.url).host));
  const ctx = c.executionCtx;
  const { env } = c;
  const settings = settingsOf(env);
  return serveRequest(c.req.raw, table, {
    health,
    fetch: settings.fetch,
    now: Date.now,
    rand: Math.random,
    log,
    writeLine,
    logSampleSuccess: settings.logSampleSuccess,
    debugHeaders: settings.debugHeaders,
    pathPolicy: settings.pathPolicy,
    waitUntil: (p) => ctx.waitUntil(p),
    rateLimiter: env.RATE_LIMITER,
    metrics:
      env.METRICS && env.TRAFFIC_METRICS !== 'off'
        ? isolateMetrics(env.METRICS, { bucketSeconds: env.METRICS_BUCKET_SECONDS, flushSeconds: env.METRICS_FLUSH_SECONDS })
        : undefined,
    observeBackend: (backend) => {
      const job = refreshActiveHealth(health, env.HEALTH, [backend], Date.now(), log);
      if (job) ctx.waitUntil(job);
    },
  });
});

/** What the gateway reads from [vars], parsed once per env object instead of per request. */
interface Settings {
  fetch: (request: Request) => Promise<Response>;
  debugHeaders: boolean;
  pathPolicy: PathPolicy;
  logSampleSuccess: number;
}
const settings = new WeakMap<Env, Settings>();
const plainFetch = (r: Request) => fetch(r);

function settingsOf(env: Env): Settings {
  let s = settings.get(env);
  if (!s) {
    const sample = Number(env.LOG_SAMPLE_SUCCESS ?? '1');
    s = {
      fetch: isLocal(env) ? devFetch(plainFetch) : plainFetch,
      debugHeaders: env.DEBUG_HEADERS !== 'off',
      pathPolicy: pathPolicyFrom(env),
      logSampleSuccess: Number.isFinite(sample) ? Math.min(1, Math.max(0, sample)) : 1,
    };
    settings.set(env, s);
  }
  return s;
}

/** dev and test run in miniflare on one machine; production never sets EDGEWAY_ENV. */
function isLocal(env: Env): boolean {
  return env.EDGEWAY_ENV === 'dev' || env.EDGEWAY_ENV === 'test';
}
