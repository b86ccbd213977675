/**
 * Bench-only Worker pricing single runtime operations inside workerd: `GET /?op=<name>&n=<count>` runs one operation
 * n times in one request; bench/ops.ts reads workerd's CPU time around the call. The operations are the ones the
 * gateway's request path performs (ids, Headers, Request/Response construction, timers, the log line).
 */
import { createContext, type GatewayDeps, type Stage } from '../src/app/context.js';
import { buildPipeline, STAGES } from '../src/app/pipeline.js';
import { IsolateHealth } from '../src/health/registry.js';
import { RetryBudget } from '../src/health/retry.js';
import { randomHex } from '../src/proxy/headers.js';
import type { RateLimiterNamespaceLike } from '../src/ratelimit.js';
import { LimiterCore } from '../src/ratelimit/limiter.js';
import type { CompiledTable } from '../src/table.js';
import { compileTable } from '../src/table/compile.js';
import { generateTable } from './harness/snapshot.js';
import { UPSTREAM_BODY } from './harness/servers.js';

interface Bindings {
  UPSTREAM: string;
}

const HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'x-forwarded-for', 'forwarded'];
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const REQUEST_ID = '0b6f1c1e-3c8a-4d3e-9f0a-2a1b3c4d5e6f';

/** The five headers the forward stage sets on every upstream request (src/proxy/headers.ts upstreamHeaders). */
function forwardingHeaders(incoming: Headers): Headers {
  const h = new Headers(incoming);
  h.set('x-forwarded-for', '198.51.100.7');
  h.set('x-forwarded-proto', 'http');
  h.set('x-forwarded-host', 'api.bench.test');
  h.set('x-request-id', REQUEST_ID);
  h.set('traceparent', TRACEPARENT);
  return h;
}

type Op = (request: Request, env: Bindings, sink: { v: unknown }) => unknown;

/** Synchronous operations, run in a tight loop: [label, op]. */
export const SYNC_OPS: Record<string, [string, Op]> = {
  empty: ['empty loop (subtracted from the others)', (_r, _e, s) => (s.v = 0)],
  uuid: ['crypto.randomUUID() (request id)', (_r, _e, s) => (s.v = crypto.randomUUID())],
  hex8: ['randomHex(8) via crypto.getRandomValues (traceparent span id)', (_r, _e, s) => (s.v = randomHex(8))],
  url: ['new URL(request.url)', (r, _e, s) => (s.v = new URL(r.url))],
  get: ['request.headers.get(name)', (r, _e, s) => (s.v = r.headers.get('host'))],
  copy: ['new Headers(incoming)', (r, _e, s) => (s.v = new Headers(r.headers))],
  sets: ['new Headers(incoming) + the 5 forwarding sets', (r, _e, s) => (s.v = forwardingHeaders(r.headers))],
  walk: [
    'new Headers(incoming) + a keys() walk (hop-by-hop strip)',
    (r, _e, s) => {
      const h = new Headers(r.headers);
      let n = 0;
      for (const k of h.keys()) if (HOP.includes(k)) n++;
      s.v = n;
    },
  ],
  request: [
    'new Request(url, {headers})',
    (r, e, s) => (s.v = new Request(`${e.UPSTREAM}/x`, { method: 'GET', headers: r.headers, redirect: 'manual' })),
  ],
  'request-signal': [
    'new Request(url, {headers, signal: AbortSignal.timeout(30 s)})',
    (r, e, s) =>
      (s.v = new Request(`${e.UPSTREAM}/x`, {
        method: 'GET',
        headers: r.headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(30_000),
      })),
  ],
  timeout: ['AbortSignal.timeout(30 s)', (_r, _e, s) => (s.v = AbortSignal.timeout(30_000))],
  response: [
    'new Response(body, init) (what the stub upstream costs)',
    (_r, _e, s) => (s.v = new Response('{"ok":true}', { headers: { 'content-type': 'application/json', server: 'nginx' } })),
  ],
  iso: ['new Date().toISOString() (log line "at")', (_r, _e, s) => (s.v = new Date().toISOString())],
  log: [
    'console.log of a 300-byte access-log line',
    (_r, _e, s) => {
      console.log(
        `{"at":"2026-12-03T13:17:00.117Z","level":"info","msg":"request","requestId":"${REQUEST_ID}","method":"GET","host":"api.bench.test","path":"/api/target/items","status":200,"route":"bench/bench-target/split","backend":"bench/bench-primary","cluster":"local-a","endpoint":"http://127.0.0.1:43225","attempts":1,"error":null,"ms":5}`,
      );
      s.v = 1;
    },
  ],
};

/** Operations with a real fetch of the upstream (each iteration one sequential subrequest): [label, op]. */
export const FETCH_OPS: Record<string, [string, (r: Request, e: Bindings) => Promise<unknown>]> = {
  'fetch-url': ['fetch(upstream URL), no client headers', async (_r, e) => (await fetch(`${e.UPSTREAM}/x`)).arrayBuffer()],
  'fetch-bare': [
    'fetch(new Request(url, request)): what the bare Hono proxy does',
    async (r, e) => (await fetch(new Request(`${e.UPSTREAM}/x`, r))).arrayBuffer(),
  ],
  'fetch-headers': [
    'fetch with the client headers + the 5 forwarding headers',
    async (r, e) =>
      (
        await fetch(new Request(`${e.UPSTREAM}/x`, { method: 'GET', headers: forwardingHeaders(r.headers), redirect: 'manual' }))
      ).arrayBuffer(),
  ],
  'fetch-timeout': [
    'fetch(upstream URL) with signal AbortSignal.timeout(30 s)',
    async (_r, e) => (await fetch(`${e.UPSTREAM}/x`, { signal: AbortSignal.timeout(30_000) })).arrayBuffer(),
  ],
  'fetch-race': [
    'fetch(upstream URL) raced with setTimeout(30 s), cleared after',
    async (_r, e) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), 30_000)));
      try {
        return (await Promise.race([fetch(`${e.UPSTREAM}/x`), timeout])).arrayBuffer();
      } finally {
        clearTimeout(timer);
      }
    },
  ],
  'fetch-native': [
    'fetch with the forwarding headers, redirect manual and a timeout signal; response copied + x-request-id set',
    async (r, e) => {
      const request = new Request(`${e.UPSTREAM}/x`, {
        method: 'GET',
        headers: forwardingHeaders(r.headers),
        redirect: 'manual',
        signal: AbortSignal.timeout(30_000),
      });
      const up = await fetch(request);
      const copy = new Response(up.body, up);
      copy.headers.set('x-request-id', REQUEST_ID);
      return copy.arrayBuffer();
    },
  ],
  'fetch-copy': [
    'fetch(upstream URL), response copied + x-request-id set',
    async (_r, e) => {
      const up = await fetch(`${e.UPSTREAM}/x`);
      const copy = new Response(up.body, up);
      copy.headers.set('x-request-id', REQUEST_ID);
      return copy.arrayBuffer();
    },
  ],
};

/**
 * The gateway's own pipeline (src/app/pipeline.ts) over the production bench's 1000-route table, with the upstream
 * replaced by an answer made in the isolate: `pipeline:k` runs the first k stages and then answers, so the CPU of
 * stage k is pipeline:k minus pipeline:k-1. `pipeline:all` is every stage with a stub fetch.
 */
let table: CompiledTable | undefined;
const health = new IsolateHealth({ retryBudget: new RetryBudget() });
const NGINX_HEADERS = {
  server: 'nginx/1.22.1',
  date: 'Thu, 03 Dec 2026 13:17:00 GMT',
  'content-type': 'application/json',
  connection: 'keep-alive',
};
const upstreamAnswer = () => new Response(UPSTREAM_BODY, { headers: NGINX_HEADERS });
const answer: Stage = {
  name: 'answer',
  build: () => async (ctx) => (ctx.upstream = upstreamAnswer()),
};
let limitedTable: CompiledTable | undefined;
const pipelines = new Map<string, ReturnType<typeof buildPipeline>>();
function pipeline(env: Bindings, k: string, limited = false) {
  const make = (rateLimit: boolean) =>
    compileTable(
      generateTable({ routes: 1000, upstream: env.UPSTREAM, targetHost: 'api.bench.test', rateLimit, catchAll: true, split: false }),
    );
  const t = limited ? (limitedTable ??= make(true)) : (table ??= make(false));
  const key = `${limited ? 'rl:' : ''}${k}`;
  let p = pipelines.get(key);
  if (!p) pipelines.set(key, (p = buildPipeline(t, k === 'all' ? STAGES : [...STAGES.slice(0, Number(k)), answer])));
  return { run: p, table: t };
}

/**
 * RATE_LIMITER stand-in for the rate-limited pipeline: the RateLimiterDO's own core (src/ratelimit/limiter.ts) in
 * this isolate, without its SQLite writes, so the figure is the gateway's stage (gate and leases) plus the core's
 * arithmetic, not the Durable Object's storage or RPC transport.
 */
const cores = new Map<string, LimiterCore>();
let limiterCalls = 0;
const limiter: RateLimiterNamespaceLike = {
  idFromName: (name) => ({ name, toString: () => name, equals: () => false }) as unknown as DurableObjectId,
  get: (id) => {
    const name = String(id);
    return {
      acquire: async (req) => {
        limiterCalls++;
        let core = cores.get(name);
        if (!core) cores.set(name, (core = new LimiterCore(req.config)));
        return core.acquire(req, Date.now());
      },
      release: async (_config, returns, admitted) => cores.get(name)?.release(returns, Date.now(), admitted),
    };
  },
};
function deps(fetchImpl: (r: Request) => Promise<Response>, write: (line: string) => void = (l) => console.log(l)): GatewayDeps {
  return {
    health,
    fetch: fetchImpl,
    now: Date.now,
    rand: Math.random,
    log: (line) => write(JSON.stringify({ at: new Date().toISOString(), ...line })),
    writeLine: write,
    debugHeaders: false,
    waitUntil: () => undefined,
    rateLimiter: limiter,
  };
}
const stubDeps = deps(async () => upstreamAnswer());
/** Date.now() stands still inside a request without I/O: this clock moves 50 µs per reading, as real time would. */
let fakeMs = Date.now();
const movingClockDeps: GatewayDeps = { ...stubDeps, now: () => (fakeMs += 0.05) };
const realDeps = deps((r) => fetch(r));
const realQuietDeps = deps(
  (r) => fetch(r),
  () => undefined,
);
/** For the CPU profile: with an inspector attached every console.log is also sent to it, which would dominate. */
const quietDeps = deps(
  async () => upstreamAnswer(),
  () => undefined,
);
const STAGE_NAMES = STAGES.map((s) => s.name);

export default {
  async fetch(request: Request, env: Bindings): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get('op') ?? '';
    const n = Number(url.searchParams.get('n') ?? '1');
    if (name === 'list')
      return Response.json({
        sync: Object.fromEntries(Object.entries(SYNC_OPS).map(([k, [label]]) => [k, label])),
        fetch: Object.fromEntries(Object.entries(FETCH_OPS).map(([k, [label]]) => [k, label])),
        pipeline: [
          ...STAGE_NAMES.map((_, i) => `pipeline:${i}`),
          'pipeline:all',
          'pipeline:clock',
          'pipeline:real',
          'pipeline:rl-all',
          'pipeline:rl-real',
        ],
        stages: STAGE_NAMES,
      });
    if (name.startsWith('pipeline:')) {
      const k = name.slice('pipeline:'.length);
      const { run, table: t } = pipeline(env, ['real', 'rl-all', 'rl-real', 'clock'].includes(k) ? 'all' : k, k.startsWith('rl-'));
      const quiet = url.searchParams.has('quiet');
      const real = k === 'real' || k === 'rl-real';
      const d = real ? (quiet ? realQuietDeps : realDeps) : k === 'clock' ? movingClockDeps : quiet ? quietDeps : stubDeps;
      const synthetic = new Request('http://api.bench.test/api/target/items?page=1', { headers: request.headers });
      for (let i = 0; i < n; i++) {
        const response = await run(createContext(synthetic, t, d));
        if (response.status !== 200) return new Response(`${name}: status ${response.status}`, { status: 500 });
        await response.arrayBuffer();
      }
      return new Response(`${n} runs, ${limiterCalls} limiter calls so far`);
    }
    const sink = { v: undefined as unknown };
    const op = SYNC_OPS[name]?.[1];
    if (op) {
      for (let i = 0; i < n; i++) op(request, env, sink);
      return new Response(String(n));
    }
    const fop = FETCH_OPS[name]?.[1];
    if (fop) {
      for (let i = 0; i < n; i++) await fop(request, env);
      return new Response(String(n));
    }
    return new Response(`unknown op ${name}`, { status: 404 });
  },
} satisfies ExportedHandler<Bindings>;
