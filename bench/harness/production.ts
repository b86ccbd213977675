/**
 * Section 2 of `npm run bench`: the production-like request path. Edgeway's production bundle and two baseline
 * proxies in one plain workerd (bench/harness/prod.ts), in front of a loopback nginx, loaded with wrk -t1 -c32 in
 * interleaved rounds; workerd's CPU time per request from /proc, and variants of the Edgeway target that switch
 * one feature each, for a per-stage breakdown.
 */
import http from 'node:http';
import { startProdWorkerd, type ProdSpec, type ProdWorkerd } from './prod.js';
import { freePort, waitForPort } from './procs.js';
import { analyse, withInspector, type CpuProfile } from './profile.js';
import { startHaproxy, startNginxProxy, type Server } from './servers.js';
import { generateTable, TARGET_PATH_PREFIX, type TableOptions } from './snapshot.js';
import type { ProdResults, ProdTarget, ProdRound } from './types.js';
import { runWrk, type LoadSettings } from './wrk.js';
import { securityHeader, withSecurity } from './security-variant.js';

export const HOST = 'api.bench.test';
/** Sent by Cloudflare's edge in production; the rate limit keys on it. */
export const CLIENT_IP = '198.51.100.7';
export const ROUTE_COUNT = 1000;
export const BENCH_PATH = `${TARGET_PATH_PREFIX}/items?page=1`;

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The verdict ratios round by round (round i of x over round i of y), so a reader sees how much they move. */
export function perRoundRatios(target: (id: string) => { rounds: { rps: number; p99Ms: number }[] } | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, x, y, k] of [
    ['c/b req/s', 'c', 'b', 'rps'],
    ['c/b p99', 'c', 'b', 'p99Ms'],
    ['d/c req/s', 'd', 'c', 'rps'],
  ] as const) {
    const xs = target(x)?.rounds ?? [];
    const ys = target(y)?.rounds ?? [];
    out[name] = xs.slice(0, ys.length).map((r, i) => r[k] / ys[i]![k]);
  }
  return out;
}

export function probe(port: number, path: string, extra: Record<string, string> = {}): Promise<NonNullable<ProdTarget['probe']>> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, headers: { host: HOST, 'cf-connecting-ip': CLIENT_IP, ...extra }, timeout: 10_000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: body.slice(0, 300),
            headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('probe timed out after 10 s')));
    req.on('error', reject);
    req.end();
  });
}

export interface ProdOptions {
  quick: boolean;
  rounds: number;
  /** Seconds per measured run of the headline targets (p, b, c, d). */
  durationS: number;
  /** Seconds per measured run of the variants and the non-Worker context targets. */
  shortDurationS: number;
  warmupS: number;
  connections: number;
  threads: number;
  wanted: Set<string> | null;
  nginx: string | null;
  haproxy: string | null;
  wrk: string;
  upstream: Server;
  /** wrangler.toml's DEBUG_HEADERS, so the debug variant flips it. */
  debugHeadersDefault: string;
}

interface Def {
  id: string;
  group: ProdTarget['group'];
  label: string;
  describe: string;
  spec?: Omit<ProdSpec, 'name'>;
  proxy?: 'nginx' | 'haproxy';
  /** Request header lines wrk (and the probe) send to this target only, e.g. its credential. */
  headers?: string[];
}

function definitions(o: ProdOptions, origin: string): Def[] {
  const table = (extra: Partial<TableOptions>) =>
    generateTable({ routes: ROUTE_COUNT, upstream: origin, targetHost: HOST, rateLimit: false, catchAll: true, split: false, ...extra });
  const debugFlip = o.debugHeadersDefault === 'on' ? 'off' : 'on';
  const c = `Edgeway production bundle, ${ROUTE_COUNT}-route table, target = catch-all route (no hostnames, matched after the host-specific routes) to one Backend (the upstream), no filters, wrangler.toml [vars] (DEBUG_HEADERS=${o.debugHeadersDefault}), no EDGEWAY_ENV`;
  return [
    { id: 'a', group: 'context', label: 'upstream direct', describe: 'the upstream alone, no proxy' },
    {
      id: 'p',
      group: 'baseline',
      label: 'plain fetch-proxy Worker',
      describe: 'bench/plain-worker.ts: `fetch(new Request(upstream + path, request))`, no framework',
      spec: { kind: 'plain' },
    },
    {
      id: 'b',
      group: 'baseline',
      label: 'bare Hono proxy Worker',
      describe: 'bench/bare-worker.ts: a Hono app whose one catch-all handler fetches the upstream URL (the reference for the targets)',
      spec: { kind: 'hono', vars: { RESOLVE_OVERRIDE: 'off' } },
    },
    { id: 'c', group: 'edgeway', label: 'Edgeway', describe: c, spec: { kind: 'edgeway', snapshot: table({}) } },
    {
      id: 'd',
      group: 'edgeway',
      label: 'Edgeway + rate limit',
      describe:
        'c plus a RateLimitPolicy on the target route (ClientIP key, 1e9 per 60 s: never denies), RateLimiterDO in the same workerd',
      spec: { kind: 'edgeway', snapshot: table({ rateLimit: true }) },
    },
    {
      id: 'v-debug',
      group: 'variant',
      label: `c, DEBUG_HEADERS=${debugFlip}`,
      describe: `c with DEBUG_HEADERS=${debugFlip} (x-edgeway-route/-backend/-cluster response headers ${debugFlip === 'on' ? 'added' : 'left out'})`,
      spec: { kind: 'edgeway', snapshot: table({}), vars: { DEBUG_HEADERS: debugFlip } },
    },
    {
      id: 'v-filters',
      group: 'variant',
      label: 'c + header filters',
      describe: 'c plus a RequestHeaderModifier (set 2, add 1, remove 1) and a ResponseHeaderModifier (set 1, remove 1) on the target rule',
      spec: { kind: 'edgeway', snapshot: table({ filters: true }) },
    },
    {
      id: 'v-split',
      group: 'variant',
      label: 'c, 90/10 split',
      describe: 'c with the target rule split 90/10 over two Backends (both the upstream)',
      spec: { kind: 'edgeway', snapshot: table({ split: true }) },
    },
    {
      id: 'v-nolog',
      group: 'variant',
      label: 'c, log line not written',
      describe:
        'c with console.log replaced by a no-op in the isolate (bench-only wrapper module): the access-log object is still built and JSON-stringified, only the write to workerd is skipped',
      spec: { kind: 'edgeway', snapshot: table({}), silenceLog: true },
    },
    {
      id: 'v-sample',
      group: 'variant',
      label: 'c, LOG_SAMPLE_SUCCESS=0',
      describe:
        'c with LOG_SAMPLE_SUCCESS=0: no access-log line for successful requests (errors are always logged); the line is neither built nor written',
      spec: { kind: 'edgeway', snapshot: table({}), vars: { LOG_SAMPLE_SUCCESS: '0' } },
    },
    {
      id: 'v-jwt',
      group: 'variant',
      label: 'c + JWT',
      describe:
        'c plus a SecurityPolicy on the target route: JWT (ES256, localJWKS, issuer and audience checked, claimToHeaders sub) and an authorization rule on its scope',
      spec: { kind: 'edgeway', snapshot: withSecurity(table({}), 'jwt') },
      headers: [securityHeader('jwt')],
    },
    {
      id: 'v-apikey',
      group: 'variant',
      label: 'c + API key',
      describe:
        'c plus a SecurityPolicy on the target route: apiKeyAuth with 100 consumers (SHA-256, constant-time compare), key stripped, consumer forwarded',
      spec: { kind: 'edgeway', snapshot: withSecurity(table({}), 'apikey') },
      headers: [securityHeader('apikey')],
    },
    {
      id: 'v-jwt-rl',
      group: 'variant',
      label: 'd + JWT',
      describe: 'd (rate limit) plus the v-jwt SecurityPolicy: a JWT-protected, rate-limited route',
      spec: { kind: 'edgeway', snapshot: withSecurity(table({ rateLimit: true }), 'jwt') },
      headers: [securityHeader('jwt')],
    },
    {
      id: 'v-nometrics',
      group: 'variant',
      label: 'c, TRAFFIC_METRICS=off',
      describe: 'c without traffic metrics (issue 12): no count per request and no background flush to MetricsDO',
      spec: { kind: 'edgeway', snapshot: table({}), vars: { TRAFFIC_METRICS: 'off' } },
    },
    { id: 'e', group: 'context', label: 'nginx', describe: 'nginx reverse proxy', proxy: 'nginx' },
    { id: 'f', group: 'context', label: 'haproxy', describe: 'haproxy reverse proxy', proxy: 'haproxy' },
  ];
}

export async function productionLike(o: ProdOptions, out: ProdResults, errors: string[]): Promise<ProdWorkerd | null> {
  const origin = `http://127.0.0.1:${o.upstream.port}`;
  const defs = definitions(o, origin).filter((d) => !o.wanted || o.wanted.has(d.id));
  const targets = new Map<string, ProdTarget>();
  for (const d of defs) {
    const long = d.group === 'baseline' || d.group === 'edgeway';
    const t: ProdTarget = {
      id: d.id,
      group: d.group,
      label: d.label,
      describe: d.describe,
      port: null,
      durationS: long ? o.durationS : o.shortDurationS,
      rounds: [],
      non2xx: 0,
      socketErrors: 0,
    };
    targets.set(d.id, t);
    out.targets.push(t);
  }
  if (targets.has('a')) targets.get('a')!.port = o.upstream.port;

  const specs: ProdSpec[] = defs.filter((d) => d.spec).map((d) => ({ name: d.id, ...d.spec! }));
  let w: ProdWorkerd | null = null;
  if (specs.length) {
    try {
      w = await startProdWorkerd(specs, origin);
      out.workers = w.describe;
      out.bundle = { command: w.bundle.command, bytes: w.bundle.bytes, inputs: w.bundle.inputs.length };
      out.bundleInputs = w.bundle.inputs;
      for (const s of specs) targets.get(s.name)!.port = w.ports[s.name]!;
    } catch (e) {
      for (const s of specs) targets.get(s.name)!.reason = `workerd did not start: ${(e as Error).message.split('\n')[0]}`;
      errors.push(`production-like workerd: ${(e as Error).stack ?? e}`);
    }
  }
  for (const d of defs) {
    if (!d.proxy) continue;
    const t = targets.get(d.id)!;
    const bin = d.proxy === 'nginx' ? o.nginx : o.haproxy;
    if (!bin) {
      t.reason = `${d.proxy} not installed`;
      continue;
    }
    try {
      const s = await (d.proxy === 'nginx' ? startNginxProxy : startHaproxy)(bin, o.upstream.port);
      t.port = s.port;
      t.describe = s.describe;
    } catch (e) {
      t.reason = `did not start: ${(e as Error).message}`;
    }
  }
  const headersOf = new Map(defs.map((d) => [d.id, d.headers ?? []]));
  for (const t of targets.values()) {
    if (t.port === null) continue;
    try {
      const own = (headersOf.get(t.id) ?? []).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
      t.probe = await probe(t.port, BENCH_PATH, Object.fromEntries(own));
      if (t.probe.status !== 200) t.reason = `first response ${t.probe.status}: ${t.probe.body.slice(0, 120)}`;
    } catch (e) {
      t.reason = `probe failed: ${(e as Error).message}`;
      t.port = null;
    }
  }
  w?.drainLog();

  const live = [...targets.values()].filter((t) => t.port !== null);
  const total = live.reduce((a, t) => a + o.rounds * (t.durationS + o.warmupS), 0) + live.length;
  console.log(
    `bench: production-like, ${live.length} targets x ${o.rounds} rounds ≈ ${Math.round(total)} s of load (wrk -t${o.threads} -c${o.connections})`,
  );
  const common = [`CF-Connecting-IP: ${CLIENT_IP}`];
  for (let r = 0; r < o.rounds; r++) {
    // Rotate the order every round so drift in machine load does not always land on the same target.
    const order = live.map((_, i) => live[(i + r) % live.length]!);
    for (const t of order) {
      const url = `http://127.0.0.1:${t.port}${BENCH_PATH}`;
      const extra = [...common, ...(headersOf.get(t.id) ?? [])];
      const isWorker = t.group !== 'context' && w !== null;
      const load: LoadSettings = { threads: o.threads, connections: o.connections, durationS: t.durationS };
      try {
        await runWrk(o.wrk, url, { ...load, durationS: r === 0 && !o.quick ? o.warmupS + 1 : o.warmupS }, HOST, extra);
        if (isWorker) w!.drainLog();
        const cpu0 = isWorker ? w!.cpuSeconds() : 0;
        const t0 = Date.now();
        const res = await runWrk(o.wrk, url, load, HOST, extra);
        const wall = (Date.now() - t0) / 1000;
        const cpu1 = isWorker ? w!.cpuSeconds() : 0;
        const logs = isWorker ? w!.drainLog() : null;
        const round: ProdRound = {
          ...res,
          cpuUsPerRequest: isWorker && res.requests > 0 ? ((cpu1 - cpu0) * 1e6) / res.requests : null,
          logLinesPerRequest: logs && res.requests > 0 ? logs.lines / res.requests : null,
          workerdCores: isWorker ? (cpu1 - cpu0) / wall : null,
        };
        if (logs) {
          out.logLines += logs.lines;
          for (const [k, v] of Object.entries(logs.backendHits)) (out.backendHits[t.id] ??= {})[k] = (out.backendHits[t.id]?.[k] ?? 0) + v;
          if (!out.logSample[t.id] && logs.sample.length) out.logSample[t.id] = logs.sample[logs.sample.length - 1]!;
        }
        t.rounds.push(round);
        t.non2xx += res.non2xx;
        t.socketErrors += res.socketErrors;
        console.log(
          `  round ${r + 1}/${o.rounds} ${t.id.padEnd(9)} ${t.label.padEnd(26)} ${res.rps.toFixed(0).padStart(7)} req/s  p50 ${res.p50Ms.toFixed(2)} ms  p99 ${res.p99Ms.toFixed(2)} ms` +
            (round.cpuUsPerRequest !== null
              ? `  ${round.cpuUsPerRequest.toFixed(0)} µs CPU/req (${round.workerdCores!.toFixed(2)} cores)`
              : '') +
            (res.non2xx || res.socketErrors ? `  (non-2xx ${res.non2xx}, socket errors ${res.socketErrors})` : ''),
        );
      } catch (e) {
        errors.push(`wrk ${t.id} round ${r + 1}: ${(e as Error).message}`);
      }
    }
  }
  for (const t of targets.values()) {
    if (!t.rounds.length) continue;
    const cpu = t.rounds.map((x) => x.cpuUsPerRequest).filter((x): x is number => x !== null);
    t.median = {
      rps: median(t.rounds.map((x) => x.rps)),
      p50Ms: median(t.rounds.map((x) => x.p50Ms)),
      p99Ms: median(t.rounds.map((x) => x.p99Ms)),
      cpuUsPerRequest: cpu.length ? median(cpu) : null,
    };
  }
  computeRatios(out);
  if (w && targets.get('c')?.port && process.env.BENCH_PROFILE !== '0') {
    await w.stop();
    const c = defs.find((d) => d.id === 'c')!;
    try {
      // With an inspector attached every console.log is also sent to it, which would dominate the profile: the
      // profiled isolate's log writes are silenced (the line is still built; section "by variant" prices the write).
      out.profile = { status: 'ok', data: await profileEdgeway(o, origin, { name: 'c', ...c.spec!, silenceLog: true }, w) };
      const pr = out.profile.data;
      console.log(
        `  profile of c: ${pr.busyUsPerRequest.toFixed(0)} µs busy/req on the isolate thread; top: ${pr.byFile
          .slice(0, 5)
          .map((f) => `${f.file} ${f.usPerRequest.toFixed(0)} µs`)
          .join(', ')}`,
      );
    } catch (e) {
      out.profile = { status: 'error', reason: (e as Error).message };
      errors.push(`profile: ${(e as Error).stack ?? e}`);
    }
  } else out.profile = { status: 'skipped', reason: process.env.BENCH_PROFILE === '0' ? 'BENCH_PROFILE=0' : 'c was not measured' };
  return w;
}

/** Loads a second workerd (only c, inspector on) with wrk while V8's sampling profiler runs. */
async function profileEdgeway(o: ProdOptions, origin: string, spec: ProdSpec, main: ProdWorkerd) {
  const inspectorPort = await freePort();
  const w = await startProdWorkerd([spec], origin, { bundle: main.bundle, inspectorPort, tag: 'profile' });
  try {
    await waitForPort(inspectorPort, 10_000);
    const url = `http://127.0.0.1:${w.ports[spec.name]}${BENCH_PATH}`;
    const extra = [`CF-Connecting-IP: ${CLIENT_IP}`];
    const load = { threads: o.threads, connections: o.connections, durationS: o.quick ? 2 : 4 };
    await runWrk(o.wrk, url, { ...load, durationS: 2 }, HOST, extra);
    return await withInspector(`ws://127.0.0.1:${inspectorPort}/${spec.name}`, async (send) => {
      await send('Profiler.enable');
      await send('Profiler.setSamplingInterval', { interval: 200 });
      await send('Profiler.start');
      const res = await runWrk(o.wrk, url, load, HOST, extra);
      const { profile } = (await send('Profiler.stop')) as { profile: CpuProfile };
      return analyse(profile, main.bundle, res.requests);
    });
  } finally {
    await w.stop();
  }
}

/** Ratios and the per-stage table, all from this run's medians (per-round ratios show the spread). */
function computeRatios(out: ProdResults): void {
  const t = (id: string) => out.targets.find((x) => x.id === id);
  const m = (id: string) => t(id)?.median;
  const ratio = (x: number | undefined | null, y: number | undefined | null) =>
    x !== undefined && x !== null && y !== undefined && y !== null && y > 0 ? x / y : null;
  const pairs: [string, string, string, 'rps' | 'p99Ms'][] = [
    ['c/b req/s', 'c', 'b', 'rps'],
    ['c/b p99', 'c', 'b', 'p99Ms'],
    ['d/c req/s', 'd', 'c', 'rps'],
    ['d/c p99', 'd', 'c', 'p99Ms'],
    ['c/p req/s (Edgeway vs plain Worker)', 'c', 'p', 'rps'],
    ['b/p req/s (Hono vs plain Worker)', 'b', 'p', 'rps'],
    ['c/e req/s (Edgeway vs nginx)', 'c', 'e', 'rps'],
    ['c/f req/s (Edgeway vs haproxy)', 'c', 'f', 'rps'],
    ['b/a req/s (bare Worker vs upstream)', 'b', 'a', 'rps'],
  ];
  for (const [name, x, y, k] of pairs) out.ratios[name] = ratio(m(x)?.[k], m(y)?.[k]);
  // What c/b req/s would be if workerd's thread were the only bottleneck (CPU-bound): steadier on a busy machine.
  out.ratios['c/b by CPU per request (b µs / c µs)'] = ratio(m('b')?.cpuUsPerRequest, m('c')?.cpuUsPerRequest);
  out.ratios['d/c by CPU per request (c µs / d µs)'] = ratio(m('c')?.cpuUsPerRequest, m('d')?.cpuUsPerRequest);
  // Issue 11's target: a JWT-protected, rate-limited route at >= 0.8x the same route without policies.
  out.ratios['v-jwt-rl/c req/s (JWT + rate limit vs no policies)'] = ratio(m('v-jwt-rl')?.rps, m('c')?.rps);
  out.ratios['v-jwt-rl/c by CPU per request (c µs / v-jwt-rl µs)'] = ratio(m('c')?.cpuUsPerRequest, m('v-jwt-rl')?.cpuUsPerRequest);
  Object.assign(out.perRound, perRoundRatios(t));
  const cpu = (id: string) => m(id)?.cpuUsPerRequest ?? null;
  const diff = (x: string, y: string) => {
    const a = cpu(x);
    const b = cpu(y);
    return a !== null && b !== null ? a - b : null;
  };
  const stage = (name: string, x: string, y: string, how: string) =>
    out.stages.push({ name, of: x, vs: y, cpuUs: diff(x, y), rpsRatio: ratio(m(x)?.rps, m(y)?.rps), how });
  stage('Hono itself (router + context)', 'b', 'p', 'bare Hono proxy minus plain fetch proxy');
  stage('Edgeway above the bare Hono proxy (everything)', 'c', 'b', 'c minus b');
  stage(
    'rate limit (gate and local lease per request; RateLimiterDO calls batched)',
    'd',
    'c',
    "d minus c; includes the RateLimiterDO's own work (lease calls and their SQLite writes), which here runs in the same workerd process (in production it runs in another isolate, often on another machine); the gateway-side stage alone is priced in the isolate section below",
  );
  stage('header filters (2 modifiers)', 'v-filters', 'c', 'v-filters minus c');
  stage('90/10 split over two Backends', 'v-split', 'c', 'v-split minus c');
  stage('SecurityPolicy: JWT (ES256 verify, scope rule)', 'v-jwt', 'c', 'v-jwt minus c');
  stage('SecurityPolicy: API key (SHA-256, 100 consumers)', 'v-apikey', 'c', 'v-apikey minus c');
  stage('JWT on a rate-limited route', 'v-jwt-rl', 'd', 'v-jwt-rl minus d');
  const dbg = t('v-debug');
  if (dbg) stage(`debug headers (${dbg.label.split('=')[1]} vs c)`, 'v-debug', 'c', 'v-debug minus c');
  stage('writing the log line (console.log → workerd stdout)', 'c', 'v-nolog', 'c minus v-nolog');
  stage('access-log line, built and written (what LOG_SAMPLE_SUCCESS=0 saves)', 'c', 'v-sample', 'c minus v-sample');
  stage('traffic metrics (count per request, flush to MetricsDO every 10 s)', 'c', 'v-nometrics', 'c minus v-nometrics');
}
