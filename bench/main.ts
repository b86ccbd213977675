/**
 * `npm run bench`: router figures, the production-like end-to-end run (production bundle in one plain workerd,
 * baselines, variants, CPU per request), optionally the older Miniflare dev-path table (BENCH_DEV=1), and
 * docs/benchmarks.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeMachine, loadAverage } from './harness/machine.js';
import { cleanupAll, installSignalHandlers } from './harness/procs.js';
import { writeReport } from './harness/report.js';
import { isolateBreakdown } from './ops.js';
import { CLIENT_IP, HOST, median, perRoundRatios, probe, productionLike } from './harness/production.js';
import { startHaproxy, startNginxProxy, startNginxUpstream, startNodeUpstream, type Server } from './harness/servers.js';
import { generateTable, TARGET_PATH_PREFIX } from './harness/snapshot.js';
import { ensureTools, toolVersion } from './harness/tools.js';
import type { Results, Section, TargetId, TargetResult, Verdict } from './harness/types.js';
import { startWorkers, targetBackendHits, workerLogLines, type WorkerSpec } from './harness/workers.js';
import { runWrk, type LoadSettings } from './harness/wrk.js';
import { unstable_readConfig } from 'wrangler';

const ROOT = process.cwd();
const QUICK = process.env.BENCH_QUICK === '1';
const ROUTE_COUNT = 1000;
/** The whole run must end by itself (about 8–9 minutes in a full run). */
const HARD_LIMIT_MS = 720_000;

function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** Load of the dev-hook table (section 2b, BENCH_DEV=1), as it has always been measured. */
const load: LoadSettings = {
  threads: envNumber('BENCH_DEV_THREADS', 2),
  connections: envNumber('BENCH_CONNECTIONS', 32),
  durationS: envNumber('BENCH_DEV_DURATION', QUICK ? 2 : 6),
};
const ROUNDS = envNumber('BENCH_ROUNDS', QUICK ? 1 : 3);
const WARMUP_S = QUICK ? 1 : 2;
/** Production-like section: wrk -t1 -c32 as issue #14 measured; headline targets run longer than the variants. */
const PROD_LOAD = {
  threads: envNumber('BENCH_THREADS', 1),
  connections: envNumber('BENCH_CONNECTIONS', 32),
  durationS: envNumber('BENCH_DURATION', QUICK ? 2 : 8),
  shortDurationS: envNumber('BENCH_SHORT_DURATION', QUICK ? 2 : 5),
};
const PROD_WARMUP_S = 1;
const DEV_TABLE = process.env.BENCH_DEV === '1';
/**
 * Outbound path of b, c and d (b0 always fetches straight out). Default: a small Worker in the same workerd,
 * because the Node dev hook saturates at a few hundred req/s here and would make b, c and d all hook-bound.
 */
const OUTBOUND: 'hook' | 'worker' = process.env.BENCH_OUTBOUND === 'hook' ? 'hook' : 'worker';

const LABELS: Record<TargetId, [string, string]> = {
  a: ['upstream direct', 'the upstream alone, no proxy'],
  b0: [
    'bare Worker, direct out',
    'bare Hono fetch-proxy Worker fetching the upstream URL directly, no resolveOverride emulation (shows what the dev outbound path costs; informational)',
  ],
  b: [
    'bare Worker',
    `bare Hono fetch-proxy Worker (bench/bare-worker.ts) using cf.resolveOverride like Edgeway, outbound through ${OUTBOUND === 'hook' ? 'the Node dev hook (src/dev/outbound.ts)' : 'the in-workerd outbound Worker (bench/outbound-worker.ts)'}`,
  ],
  c: ['Edgeway', `Edgeway (src/index.ts), ${ROUTE_COUNT}-route table, 90/10 split on the target route`],
  d: ['Edgeway + rate limit', 'c plus a RateLimitPolicy (ClientIP key, 1e9 per 60s: never denies) on the target route'],
  e: ['nginx', 'nginx reverse proxy'],
  f: ['haproxy', 'haproxy reverse proxy'],
};

/** Runs bench/router.ts ROUNDS times and keeps each figure's median (the machine is shared and noisy). */
async function routerSection(): Promise<Section> {
  const file = join(ROOT, 'bench', 'router.ts');
  if (!existsSync(file)) return { status: 'not available', reason: 'bench/router.ts does not exist yet' };
  try {
    type RouterResult = { matchNsMedian: Record<string, number>; compileMs10k: number; ratio10kTo100: number };
    const mod = (await import(pathToFileURL(file).href)) as { runRouterBench?: () => RouterResult | Promise<RouterResult> };
    if (typeof mod.runRouterBench !== 'function')
      return { status: 'not available', reason: 'bench/router.ts does not export runRouterBench' };
    const rounds: RouterResult[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await mod.runRouterBench());
    const sizes = Object.keys(rounds[0]!.matchNsMedian);
    return {
      status: 'ok',
      data: {
        matchNsMedian: Object.fromEntries(sizes.map((n) => [n, median(rounds.map((r) => r.matchNsMedian[n]!))])),
        compileMs10k: median(rounds.map((r) => r.compileMs10k)),
        ratio10kTo100: median(rounds.map((r) => r.ratio10kTo100)),
        rounds,
      },
    };
  } catch (e) {
    return { status: 'error', reason: `runRouterBench failed: ${(e as Error).stack ?? String(e)}` };
  }
}

async function rateLimitSection(): Promise<Section> {
  const file = join(ROOT, 'bench', 'ratelimit.ts');
  if (!existsSync(file)) return { status: 'pending', reason: 'bench/ratelimit.ts (runRateLimitAccuracy) does not exist yet' };
  try {
    const mod = (await import(pathToFileURL(file).href)) as { runRateLimitAccuracy?: () => unknown };
    if (typeof mod.runRateLimitAccuracy !== 'function')
      return { status: 'pending', reason: 'bench/ratelimit.ts does not export runRateLimitAccuracy yet' };
    return { status: 'ok', data: await mod.runRateLimitAccuracy() };
  } catch (e) {
    return { status: 'error', reason: `runRateLimitAccuracy failed: ${(e as Error).stack ?? String(e)}` };
  }
}

/** The chaos harness owns its figures; we quote the tables of docs/reliability.md. */
function failoverSection(): Section {
  const file = join(ROOT, 'docs', 'reliability.md');
  if (!existsSync(file)) return { status: 'pending', reason: 'docs/reliability.md (chaos/ results) does not exist yet' };
  const lines = readFileSync(file, 'utf8').split('\n');
  const tables: string[] = [];
  let current: string[] = [];
  let heading = '';
  for (const line of lines) {
    if (/^#+\s/.test(line)) heading = line.replace(/^#+\s*/, '');
    if (line.trim().startsWith('|')) {
      if (current.length === 0 && heading) current.push(`**${heading}**`, '');
      current.push(line);
    } else if (current.length) {
      tables.push(current.join('\n'));
      current = [];
    }
  }
  if (current.length) tables.push(current.join('\n'));
  if (tables.length === 0) return { status: 'pending', reason: 'docs/reliability.md has no result table yet' };
  return { status: 'ok', data: tables };
}

function gatewayIsReal(inputs: string[] | undefined): { real: boolean; note: string } {
  if (inputs) {
    const routing = inputs.some((p) => /^src\/routing(\.ts|\/)/.test(p));
    return routing
      ? { real: true, note: 'the Edgeway bundle includes src/routing (the real gateway)' }
      : { real: false, note: 'src/index.ts does not reach src/routing yet: c and d measure the placeholder Worker, not the gateway' };
  }
  const src = existsSync(join(ROOT, 'src/index.ts')) ? readFileSync(join(ROOT, 'src/index.ts'), 'utf8') : '';
  const real = /from\s+['"]\.\/(routing|app)/.test(src);
  return { real, note: real ? 'src/index.ts imports the gateway modules' : 'src/index.ts is still the placeholder' };
}

/** Section 2: production-like. Returns after stopping everything it started. */
async function production(results: Results): Promise<void> {
  const tools = await ensureTools(['wrk', 'nginx', 'haproxy']);
  results.versions.wrk = await toolVersion(tools.wrk!.path, ['--version']);
  results.versions.nginx = await toolVersion(tools.nginx!.path, ['-v']);
  results.versions.haproxy = await toolVersion(tools.haproxy!.path, ['-v']);
  if (!tools.wrk!.path) throw new Error(`wrk missing: ${tools.wrk!.missing}`);
  if (!tools.nginx!.path && process.env.BENCH_UPSTREAM !== 'node')
    throw new Error(`nginx (the upstream) missing: ${tools.nginx!.missing}; BENCH_UPSTREAM=node uses a Node upstream instead`);
  const upstream =
    process.env.BENCH_UPSTREAM === 'node' || !tools.nginx!.path ? await startNodeUpstream() : await startNginxUpstream(tools.nginx!.path);
  results.upstream = upstream.describe;
  const wr = unstable_readConfig({ config: join(ROOT, 'wrangler.toml') });
  const wanted = process.env.BENCH_TARGETS ? new Set(process.env.BENCH_TARGETS.split(',').map((x) => x.trim())) : null;
  try {
    await productionLike(
      {
        quick: QUICK,
        rounds: ROUNDS,
        durationS: PROD_LOAD.durationS,
        shortDurationS: PROD_LOAD.shortDurationS,
        warmupS: PROD_WARMUP_S,
        connections: PROD_LOAD.connections,
        threads: PROD_LOAD.threads,
        wanted,
        nginx: tools.nginx!.path,
        haproxy: tools.haproxy!.path,
        wrk: tools.wrk!.path,
        upstream,
        debugHeadersDefault: String((wr.vars as Record<string, unknown>)?.DEBUG_HEADERS ?? 'on'),
      },
      results.prod,
      results.errors,
    );
    if (results.prod.bundleInputs.length) results.gateway = gatewayIsReal(results.prod.bundleInputs);
  } finally {
    await cleanupAll();
  }
}

/** Section 2b (BENCH_DEV=1): the Miniflare dev path the bench measured before issue #14. */
async function endToEnd(results: Results): Promise<void> {
  const wanted = new Set((process.env.BENCH_DEV_TARGETS ?? 'a,b0,b,c,d,e,f').split(',').map((s) => s.trim()));
  const targets = new Map<TargetId, TargetResult>();
  for (const id of Object.keys(LABELS) as TargetId[]) {
    if (!wanted.has(id)) continue;
    const [label, describe] = LABELS[id];
    const t: TargetResult = { id, label, describe, port: null, rounds: [], non2xx: 0, socketErrors: 0 };
    targets.set(id, t);
    results.targets.push(t);
  }
  const fail = (ids: TargetId[], reason: string) => {
    for (const id of ids) {
      const t = targets.get(id);
      if (t) t.reason = reason;
    }
  };

  const tools = await ensureTools(['wrk', 'nginx', 'haproxy']);
  results.versions.wrk = await toolVersion(tools.wrk!.path, ['--version']);
  results.versions.nginx = await toolVersion(tools.nginx!.path, ['-v']);
  results.versions.haproxy = await toolVersion(tools.haproxy!.path, ['-v']);
  const wrk = tools.wrk!.path;
  if (!wrk) {
    fail([...targets.keys()], `wrk missing: ${tools.wrk!.missing}`);
    return;
  }

  let upstream: Server;
  if (tools.nginx!.path && process.env.BENCH_UPSTREAM !== 'node') upstream = await startNginxUpstream(tools.nginx!.path);
  else upstream = await startNodeUpstream();
  results.upstream = upstream.describe;
  const origin = `http://127.0.0.1:${upstream.port}`;
  const direct = targets.get('a');
  if (direct) direct.port = upstream.port;

  const specs: WorkerSpec[] = [];
  const bare = (name: string, override: boolean): WorkerSpec => ({
    name,
    entry: 'bench/bare-worker.ts',
    bindings: { UPSTREAM: origin, RESOLVE_OVERRIDE: override ? 'on' : 'off' },
    outbound: override ? OUTBOUND : 'none',
    wranglerBindings: false,
  });
  if (targets.has('b0')) specs.push(bare('b0', false));
  if (targets.has('b')) specs.push(bare('b', true));
  for (const id of ['c', 'd'] as const)
    if (targets.has(id))
      specs.push({
        name: id,
        entry: 'src/index.ts',
        bindings: { EDGEWAY_ENV: 'dev' },
        outbound: OUTBOUND,
        wranglerBindings: true,
        snapshot: generateTable({ routes: ROUTE_COUNT, upstream: origin, targetHost: HOST, rateLimit: id === 'd' }),
      });
  if (specs.length) {
    try {
      const w = await startWorkers(specs);
      results.workers = w.describe;
      for (const s of specs) targets.get(s.name as TargetId)!.port = w.ports[s.name]!;
      results.gateway = gatewayIsReal(w.inputs.c ?? w.inputs.d);
    } catch (e) {
      fail(
        specs.map((s) => s.name as TargetId),
        `workerd did not start: ${(e as Error).message}`,
      );
      results.errors.push(`workers: ${(e as Error).stack ?? e}`);
    }
  }
  const proxies: [TargetId, string | null, (bin: string, port: number) => Promise<Server>, string][] = [
    ['e', tools.nginx!.path, startNginxProxy, tools.nginx!.missing ?? ''],
    ['f', tools.haproxy!.path, startHaproxy, tools.haproxy!.missing ?? ''],
  ];
  for (const [id, bin, startProxy, missing] of proxies) {
    const t = targets.get(id);
    if (!t) continue;
    if (!bin) {
      t.reason = missing;
      continue;
    }
    try {
      const s = await startProxy(bin, upstream.port);
      t.port = s.port;
      t.describe = s.describe;
    } catch (e) {
      t.reason = `did not start: ${(e as Error).message}`;
    }
  }

  // Same path and headers for every target, so request sizes match.
  const path = `${TARGET_PATH_PREFIX}/items?page=1`;
  for (const t of targets.values()) {
    if (t.port === null) continue;
    try {
      t.probe = await probe(t.port, path);
    } catch (e) {
      t.reason = `probe failed: ${(e as Error).message}`;
      t.port = null;
    }
  }

  const live = [...targets.values()].filter((t) => t.port !== null);
  const perRun = load.durationS + WARMUP_S;
  console.log(
    `bench: ${live.length} targets x ${ROUNDS} rounds x (${WARMUP_S}s warm-up + ${load.durationS}s) ≈ ${Math.round(live.length * ROUNDS * perRun)} s of load`,
  );
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order every round so drift in machine load does not always land on the same target.
    const order = live.map((_, i) => live[(i + r) % live.length]!);
    for (const t of order) {
      const url = `http://127.0.0.1:${t.port}${path}`;
      const extra = [`CF-Connecting-IP: ${CLIENT_IP}`];
      try {
        await runWrk(wrk, url, { ...load, durationS: WARMUP_S }, HOST, extra);
        const res = await runWrk(wrk, url, load, HOST, extra);
        t.rounds.push(res);
        t.non2xx += res.non2xx;
        t.socketErrors += res.socketErrors;
        console.log(
          `  round ${r + 1}/${ROUNDS} ${t.id.padEnd(2)} ${t.label.padEnd(24)} ${res.rps.toFixed(0).padStart(7)} req/s  p50 ${res.p50Ms.toFixed(2)} ms  p99 ${res.p99Ms.toFixed(2)} ms` +
            (res.non2xx || res.socketErrors ? `  (non-2xx ${res.non2xx}, socket errors ${res.socketErrors})` : ''),
        );
      } catch (e) {
        results.errors.push(`wrk ${t.id} round ${r + 1}: ${(e as Error).message}`);
      }
    }
  }
  results.workerLogLines = workerLogLines();
  results.backendHits = targetBackendHits();
  // Proof that d exercised the limiter rather than carrying a policy the gateway ignored: RateLimit headers.
  const dProbe = targets.get('d')?.probe;
  if (dProbe) results.rateLimitHeaders = Object.keys(dProbe.headers).some((k) => /^(x-)?ratelimit/.test(k));
  for (const t of targets.values())
    if (t.rounds.length)
      t.median = {
        rps: median(t.rounds.map((x) => x.rps)),
        p50Ms: median(t.rounds.map((x) => x.p50Ms)),
        p99Ms: median(t.rounds.map((x) => x.p99Ms)),
      };
}

function ratiosAndVerdicts(results: Results): void {
  const m = (id: TargetId) => results.targets.find((t) => t.id === id)?.median;
  const t = (id: TargetId) => results.targets.find((x) => x.id === id);
  const ratio = (x: number | undefined, y: number | undefined) => (x !== undefined && y !== undefined && y > 0 ? x / y : null);
  const pairs: [string, TargetId, TargetId, 'rps' | 'p99Ms'][] = [
    ['c/b req/s', 'c', 'b', 'rps'],
    ['c/b p99', 'c', 'b', 'p99Ms'],
    ['d/c req/s', 'd', 'c', 'rps'],
    ['d/c p99', 'd', 'c', 'p99Ms'],
    ['b/b0 req/s (cost of the dev outbound path)', 'b', 'b0', 'rps'],
    ['c/e req/s (Edgeway vs nginx)', 'c', 'e', 'rps'],
    ['c/e p99', 'c', 'e', 'p99Ms'],
    ['c/f req/s (Edgeway vs haproxy)', 'c', 'f', 'rps'],
    ['c/f p99', 'c', 'f', 'p99Ms'],
    ['e/a req/s (nginx vs upstream)', 'e', 'a', 'rps'],
    ['f/a req/s (haproxy vs upstream)', 'f', 'a', 'rps'],
    ['b/a req/s (bare Worker vs upstream)', 'b', 'a', 'rps'],
  ];
  for (const [name, x, y, k] of pairs) results.ratios[name] = ratio(m(x)?.[k], m(y)?.[k]);
  Object.assign(
    results.perRound,
    perRoundRatios((id) => t(id as TargetId)),
  );

  const v = (
    name: string,
    target: string,
    measured: number | null,
    fmt: (n: number) => string,
    ok: (n: number) => boolean,
    note?: string,
  ): Verdict => ({
    name,
    target,
    measured: measured === null ? 'not measured' : fmt(measured),
    holds: measured === null ? null : ok(measured),
    ...(note ? { note } : {}),
  });
  if (results.router.status === 'ok') {
    const r = results.router.data as { matchNsMedian?: Record<string, number>; compileMs10k?: number; ratio10kTo100?: number };
    const ns10k = r.matchNsMedian?.['10000'];
    results.verdicts.push(
      v(
        'router match, 10k routes',
        '≤ 1 µs median',
        ns10k ?? null,
        (n) => `${(n / 1000).toFixed(3)} µs`,
        (n) => n <= 1000,
      ),
    );
    results.verdicts.push(
      v(
        'router match, 10k vs 100 routes',
        '≤ 3x',
        r.ratio10kTo100 ?? null,
        (n) => `${n.toFixed(2)}x`,
        (n) => n <= 3,
      ),
    );
    results.verdicts.push(
      v(
        'router compile, 10k routes',
        '≤ 50 ms',
        r.compileMs10k ?? null,
        (n) => `${n.toFixed(1)} ms`,
        (n) => n <= 50,
      ),
    );
  } else {
    for (const name of ['router match, 10k routes', 'router match, 10k vs 100 routes', 'router compile, 10k routes'])
      results.verdicts.push({ name, target: '', measured: results.router.status, holds: null, note: results.router.reason.split('\n')[0] });
  }
  prodVerdicts(results, v);
}

/** The issue #14 targets, judged on the production-like run only. */
function prodVerdicts(
  results: Results,
  v: (name: string, target: string, measured: number | null, fmt: (n: number) => string, ok: (n: number) => boolean) => Verdict,
): void {
  const t = (id: string) => results.prod.targets.find((x) => x.id === id);
  // A target answering errors is fast for the wrong reason: its ratios are not evidence.
  const invalid = (id: string) => {
    const x = t(id);
    const total = x?.rounds.reduce((a, r) => a + r.requests, 0) ?? 0;
    return x && total > 0 && (x.non2xx + x.socketErrors) / total > 0.01
      ? `${id} had ${x.non2xx} non-2xx and ${x.socketErrors} socket errors`
      : '';
  };
  const gate = (verdict: Verdict, ids: string[]): Verdict => {
    const note = [results.gateway.real ? '' : 'placeholder src/index.ts, not the gateway', ...ids.map(invalid)].filter(Boolean).join('; ');
    const bad = ids.some((id) => invalid(id));
    return { ...verdict, ...(note ? { note } : {}), holds: bad ? null : verdict.holds };
  };
  const r = results.prod.ratios;
  const x = (n: number) => `${n.toFixed(2)}x`;
  results.verdicts.push(
    gate(
      v('Edgeway (c) vs bare Hono proxy (b), req/s', '≥ 0.85x', r['c/b req/s'] ?? null, x, (n) => n >= 0.85),
      ['b', 'c'],
    ),
  );
  results.verdicts.push(
    gate(
      v('Edgeway (c) vs bare Hono proxy (b), p99', '≤ 1.25x', r['c/b p99'] ?? null, x, (n) => n <= 1.25),
      ['b', 'c'],
    ),
  );
  const dc = gate(
    v('rate-limited (d) vs same route unlimited (c), req/s', '≥ 0.9x', r['d/c req/s'] ?? null, x, (n) => n >= 0.9),
    ['c', 'd'],
  );
  const dHeaders = t('d')?.probe ? Object.keys(t('d')!.probe!.headers).some((k) => /^(x-)?ratelimit/.test(k)) : null;
  // A second log line per request is the gateway's ratelimit_unavailable warning: the limiter did not answer.
  const dLines = t('d')?.rounds.at(-1)?.logLinesPerRequest ?? null;
  if (dLines !== null && dLines > 1.2 && dc.holds !== null)
    results.verdicts.push({
      ...dc,
      holds: null,
      note: [dc.note, `d wrote ${dLines.toFixed(2)} log lines per request: the limiter was unavailable (fail-open), not measured`]
        .filter(Boolean)
        .join('; '),
    });
  else if (dHeaders === false && dc.holds !== null)
    results.verdicts.push({
      ...dc,
      holds: null,
      note: [dc.note, 'd answered without RateLimit headers: the gateway did not apply the policy'].filter(Boolean).join('; '),
    });
  else results.verdicts.push(dc);
}

export async function main(): Promise<number> {
  installSignalHandlers();
  const t0 = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${HARD_LIMIT_MS / 1000} s, stopping everything`);
    void cleanupAll().finally(() => process.exit(2));
  }, HARD_LIMIT_MS);
  watchdog.unref();
  const results: Results = {
    mode: QUICK ? 'quick' : 'full',
    devTable: DEV_TABLE,
    prod: {
      load: PROD_LOAD,
      workers: 'not started',
      bundle: null,
      bundleInputs: [],
      targets: [],
      perRound: {},
      ratios: {},
      stages: [],
      logLines: 0,
      backendHits: {},
      logSample: {},
      profile: { status: 'skipped', reason: 'not run' },
      isolate: { status: 'skipped', reason: 'not run' },
    },
    outbound: OUTBOUND,
    startedAt: new Date(t0).toISOString(),
    finishedAt: '',
    durationS: 0,
    rounds: ROUNDS,
    warmupS: WARMUP_S,
    load,
    machine: await describeMachine(),
    versions: {},
    gateway: gatewayIsReal(undefined),
    upstream: 'not started',
    workers: 'not started',
    router: { status: 'pending', reason: 'not run' },
    targets: [],
    perRound: {},
    ratios: {},
    verdicts: [],
    rateLimit: { status: 'pending', reason: 'not run' },
    failover: { status: 'pending', reason: 'not run' },
    errors: [],
    workerLogLines: 0,
    rateLimitHeaders: null,
    backendHits: {},
  };
  console.log(`bench: ${results.mode} run on ${results.machine.nproc} x ${results.machine.cpuModel}, load ${results.machine.loadAtStart}`);
  try {
    // CPU-only micro-bench first, while nothing else of ours is running.
    console.log('bench: router');
    results.router = await routerSection();
    console.log(`bench: router ${results.router.status}`);
    console.log('bench: end to end, production-like');
    try {
      await production(results);
    } catch (e) {
      results.errors.push(`production-like: ${(e as Error).stack ?? e}`);
    } finally {
      await cleanupAll();
    }
    if (process.env.BENCH_ISOLATE !== '0') {
      console.log('bench: in the isolate (bench/ops.ts)');
      try {
        const data = await isolateBreakdown({ rounds: QUICK ? 1 : 3, targetS: QUICK ? 0.3 : 0.8 });
        results.prod.isolate = { status: 'ok', data };
        console.log(`  stages: ${data.stages.map((s) => `${s.stage} ${s.us.toFixed(1)} µs`).join(', ')}`);
      } catch (e) {
        results.prod.isolate = { status: 'error', reason: (e as Error).message };
        results.errors.push(`in the isolate: ${(e as Error).stack ?? e}`);
      } finally {
        await cleanupAll();
      }
    } else results.prod.isolate = { status: 'skipped', reason: 'BENCH_ISOLATE=0' };
    if (DEV_TABLE) {
      console.log('bench: end to end, Miniflare dev path (BENCH_DEV=1)');
      try {
        await endToEnd(results);
      } catch (e) {
        results.errors.push(`end to end (dev path): ${(e as Error).stack ?? e}`);
      } finally {
        await cleanupAll();
      }
    }
    console.log('bench: rate-limit accuracy');
    results.rateLimit = await rateLimitSection();
    results.failover = failoverSection();
    ratiosAndVerdicts(results);
  } finally {
    await cleanupAll();
    clearTimeout(watchdog);
  }
  results.finishedAt = new Date().toISOString();
  results.machine.loadAtEnd = loadAverage();
  results.durationS = Math.round((Date.now() - t0) / 1000);
  const summary = await writeReport(results);
  console.log(summary);
  return results.errors.length ? 1 : 0;
}
