/** Writes docs/benchmarks.md, the SVG chart and the raw JSON of a run, and returns the console summary. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'prettier';
import { keptScaleSection } from './scale-section.js';
import type { IsolateOp, ProdTarget, Results, Section } from './types.js';

const ROOT = process.cwd();
const CHART = 'bench/results/chart.svg';
const RAW = 'bench/results/last-run.json';

const f0 = (n: number) => n.toFixed(0);
const f2 = (n: number) => n.toFixed(2);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Log-scale axis bounds: whole powers of ten around the data, so a 60k req/s upstream and a 1k req/s Worker both show. */
function logBounds(values: number[]): [number, number] {
  const pos = values.filter((v) => v > 0);
  if (pos.length === 0) return [1, 10];
  const lo = 10 ** Math.floor(Math.log10(Math.min(...pos)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...pos) * 1.0001));
  return [lo, hi > lo ? hi : lo * 10];
}

function wrap(label: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of label.split(' ')) {
    const last = lines[lines.length - 1];
    if (last !== undefined && (last + ' ' + word).length <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

const tickLabel = (v: number) => (v >= 1000 ? `${v / 1000}k` : `${+v.toPrecision(3)}`);

/** Grouped bars: req/s on the left axis, p99 on the right (both log scale), one group per target. */
export function renderChart(r: Results): string {
  const ts = r.prod.targets.filter((t): t is ProdTarget & { median: NonNullable<ProdTarget['median']> } => !!t.median);
  const W = 880;
  const H = 420;
  const m = { l: 70, r: 70, t: 56, b: 96 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const [rLo, rHi] = logBounds(ts.map((t) => t.median.rps));
  const [pLo, pHi] = logBounds(ts.map((t) => t.median.p99Ms));
  const y = (v: number, lo: number, hi: number) =>
    m.t + ph - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;
  const group = pw / Math.max(1, ts.length);
  const bw = Math.min(34, group * 0.3);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">Edgeway bench (${r.mode} run, ${esc(r.startedAt.slice(0, 16).replace('T', ' '))} UTC): median req/s and p99 per target</text>`,
  );
  out.push(
    `<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">production-like: wrk -t${r.prod.load.threads} -c${r.prod.load.connections}, ${r.rounds} rounds, ${r.machine.nproc} cores (${esc(r.machine.cpuModel)}), production bundle in one workerd; both axes log scale</text>`,
  );
  for (let v = rLo; v <= rHi * 1.0001; v *= 10) {
    const yy = y(v, rLo, rHi);
    out.push(`<line x1="${m.l}" y1="${yy}" x2="${m.l + pw}" y2="${yy}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${yy + 4}" text-anchor="end" fill="#1f5fa8">${tickLabel(v)}</text>`);
  }
  for (let v = pLo; v <= pHi * 1.0001; v *= 10) {
    const yy = y(v, pLo, pHi);
    out.push(`<line x1="${m.l + pw}" y1="${yy}" x2="${m.l + pw + 4}" y2="${yy}" stroke="#c2571a"/>`);
    out.push(`<text x="${m.l + pw + 6}" y="${yy + 4}" fill="#c2571a">${tickLabel(v)}</text>`);
  }
  out.push(
    `<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#1f5fa8">requests/s (median, log)</text>`,
  );
  out.push(
    `<text transform="translate(${W - 14} ${m.t + ph / 2}) rotate(90)" text-anchor="middle" fill="#c2571a">p99 latency ms (median, log)</text>`,
  );
  out.push(`<line x1="${m.l}" y1="${m.t + ph}" x2="${m.l + pw}" y2="${m.t + ph}" stroke="#333"/>`);
  ts.forEach((t, i) => {
    const cx = m.l + group * i + group / 2;
    const yr = y(t.median.rps, rLo, rHi);
    const yp = y(t.median.p99Ms, pLo, pHi);
    out.push(
      `<rect x="${cx - bw - 2}" y="${yr}" width="${bw}" height="${m.t + ph - yr}" fill="#1f5fa8"><title>${esc(t.label)}: ${f0(t.median.rps)} req/s</title></rect>`,
    );
    out.push(
      `<rect x="${cx + 2}" y="${yp}" width="${bw}" height="${m.t + ph - yp}" fill="#e07b39"><title>${esc(t.label)}: p99 ${f2(t.median.p99Ms)} ms</title></rect>`,
    );
    out.push(`<text x="${cx - bw / 2 - 2}" y="${yr - 4}" text-anchor="middle" font-size="10" fill="#1f5fa8">${f0(t.median.rps)}</text>`);
    out.push(`<text x="${cx + bw / 2 + 2}" y="${yp - 4}" text-anchor="middle" font-size="10" fill="#c2571a">${f2(t.median.p99Ms)}</text>`);
    out.push(`<text x="${cx}" y="${m.t + ph + 18}" text-anchor="middle" font-weight="bold">${esc(t.id)}</text>`);
    wrap(t.label, 14).forEach((line, li) =>
      out.push(`<text x="${cx}" y="${m.t + ph + 34 + li * 14}" text-anchor="middle" font-size="11">${esc(line)}</text>`),
    );
  });
  const ly = H - 12;
  out.push(
    `<rect x="${m.l}" y="${ly - 10}" width="12" height="12" fill="#1f5fa8"/><text x="${m.l + 18}" y="${ly}">requests/s (left axis)</text>`,
  );
  out.push(
    `<rect x="${m.l + 180}" y="${ly - 10}" width="12" height="12" fill="#e07b39"/><text x="${m.l + 198}" y="${ly}">p99 ms (right axis)</text>`,
  );
  if (ts.length === 0) out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no target was measured</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function sectionText(s: Section, render: (data: unknown) => string): string {
  if (s.status === 'ok') return render(s.data);
  return `**${s.status}**: ${s.reason.split('\n')[0]}\n`;
}

/** Any JSON-ish result as a key/value table, nested values as inline JSON. */
function genericTable(data: unknown, explain: Record<string, string> = {}): string {
  if (data === null || typeof data !== 'object') return `\`${JSON.stringify(data)}\`\n`;
  const rows = Object.entries(data as Record<string, unknown>).map(
    ([k, v]) => `| ${cell(k)} | ${cell(typeof v === 'object' ? JSON.stringify(v) : String(v))} | ${cell(explain[k] ?? '')} |`,
  );
  return ['| figure | value | meaning |', '| --- | ---: | --- |', ...rows].join('\n') + '\n';
}

/** Meanings of bench/ratelimit.ts's AccuracyReport fields (from its doc comments). */
const RATE_LIMIT_FIELDS: Record<string, string> = {
  limit: 'requests allowed per window',
  windowMs: 'window length (ms)',
  durationMs: 'simulated duration (virtual clock, ms)',
  requests: 'requests sent by all clients on one hot key',
  allowed: 'requests allowed',
  ideal: 'limit x duration / window: what a perfect limiter allows',
  maxInAnyWindow: 'most allowed in any window (t - W, t]: over `limit` means overshoot',
  deniedUnder90: 'denials while under 90% of the limit had been used (false denials)',
  denied: 'requests denied',
  objectCallsPerSecond: 'calls reaching the Durable Object per second',
};

function routerText(data: unknown): string {
  const r = data as {
    matchNsMedian?: Record<string, number>;
    compileMs10k?: number;
    ratio10kTo100?: number;
    rounds?: { matchNsMedian: Record<string, number>; compileMs10k: number }[];
  };
  if (!r.matchNsMedian) return genericTable(data);
  const per = r.rounds && r.rounds.length > 1 ? r.rounds : null;
  const rows = Object.entries(r.matchNsMedian).map(
    ([n, ns]) =>
      `| ${n} | ${ns.toFixed(0)} ns (${(ns / 1000).toFixed(3)} µs) |${per ? ` ${per.map((x) => (x.matchNsMedian[n] ?? Number.NaN).toFixed(0)).join(', ')} |` : ''}`,
  );
  return (
    [`| routes | median match time |${per ? ' per round, ns |' : ''}`, `| ---: | ---: |${per ? ' --- |' : ''}`, ...rows].join('\n') +
    `\n\nCompile of a 10k-route snapshot: **${r.compileMs10k?.toFixed(1) ?? '?'} ms**${per ? ` (rounds: ${per.map((x) => x.compileMs10k.toFixed(1)).join(', ')})` : ''}. Match time at 10k routes is **${r.ratio10kTo100?.toFixed(2) ?? '?'}x** the 100-route figure. Measured by bench/router.ts (its own table mix and request set), median over ${per?.length ?? 1} run(s) of it, before any load starts.\n`
  );
}

const verdictWord = (h: boolean | null) => (h === null ? 'n/a' : h ? '**holds**' : '**does not hold**');

/** Formats like `npm run lint` expects, so generated files never fail `prettier --check`. */
async function pretty(text: string, file: string): Promise<string> {
  try {
    // Twice: prettier's JSON output is not always stable after one pass (long number arrays), and lint checks it.
    const once = await format(text, { filepath: join(ROOT, file) });
    return await format(once, { filepath: join(ROOT, file) });
  } catch {
    return text;
  }
}

export async function writeReport(r: Results): Promise<string> {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, CHART), renderChart(r));
  writeFileSync(join(ROOT, RAW), await pretty(JSON.stringify(r, null, 2), RAW));

  const byId = (id: string) => r.targets.find((t) => t.id === id);
  const b = byId('b')?.median;
  const L: string[] = [];
  L.push('# Benchmarks', '');
  L.push(
    `Generated by \`npm run bench\` (bench/main.ts) — do not edit by hand. **${r.mode === 'quick' ? 'QUICK run (BENCH_QUICK=1: one short round; for development, not for quoting)' : 'Full run'}**, started ${r.startedAt}, took ${r.durationS} s. Raw figures: [${RAW}](../${RAW}).`,
    '',
  );
  if (!r.gateway.real)
    L.push(`> **Note:** ${r.gateway.note}. The c/d figures and the end-to-end verdicts below are not evidence about Edgeway yet.`, '');

  L.push('## Targets', '');
  L.push('| target | goal | measured | verdict | note |', '| --- | --- | --- | --- | --- |');
  for (const v of r.verdicts)
    L.push(`| ${cell(v.name)} | ${cell(v.target)} | ${cell(v.measured)} | ${verdictWord(v.holds)} | ${cell(v.note ?? '')} |`);
  const holds = r.verdicts.filter((v) => v.holds === true).map((v) => v.name);
  const fails = r.verdicts.filter((v) => v.holds === false).map((v) => v.name);
  const open = r.verdicts.filter((v) => v.holds === null).map((v) => v.name);
  L.push('');
  L.push(
    `In plain words: ${holds.length ? `holding — ${holds.join('; ')}.` : 'no target holds yet.'} ${fails.length ? `Not holding — ${fails.join('; ')}.` : 'None measured fails.'}${open.length ? ` Not decided (not measured or invalid) — ${open.join('; ')}.` : ''}`,
    '',
  );

  L.push('## Machine', '');
  L.push(`- CPU: ${r.machine.nproc} cores (\`nproc\`), ${r.machine.cpuModel}`);
  L.push(`- Memory: ${r.machine.memory}; kernel ${r.machine.kernel}`);
  L.push(
    `- Load average (1/5/15 min) at start: ${r.machine.loadAtStart}, at end: ${r.machine.loadAtEnd ?? '?'} — the machine is shared, so figures move between runs; compare ratios from one run, not absolute numbers across runs.`,
  );
  L.push(`- Node ${r.machine.node}; workerd ${r.machine.workerd}`);
  for (const [k, v] of Object.entries(r.versions)) L.push(`- ${k}: ${v}`);
  L.push('');

  L.push('## 1. Router', '');
  L.push(sectionText(r.router, routerText));

  L.push('## 2. End to end, production-like', '');
  prodSection(r, L);
  if (r.devTable) {
    L.push('## 2b. End to end through the Miniflare dev path (BENCH_DEV=1)', '');
    L.push(
      'The table the bench printed before issue #14, kept for comparison: Miniflare, esbuild bundles, an emulated resolveOverride, the Miniflare outbound interceptor. Not production-like; no verdict is drawn from it.',
      '',
    );
    L.push(
      `Load: \`wrk -t${r.load.threads} -c${r.load.connections} -d${r.load.durationS}s --latency\` with \`Host: api.bench.test\`, ` +
        `${r.rounds} round(s) per target after a ${r.warmupS} s warm-up each, rounds interleaved across targets with the order rotated each round; figures are medians over rounds, ratios are from this run's medians.`,
      '',
    );
    L.push(
      `- Upstream (a): ${r.upstream} on loopback. nginx was chosen over a Node server because it is steadier and uses less of the 2 cores the proxies under test need (BENCH_UPSTREAM=node switches).`,
    );
    L.push(
      `- Workers (b0, b, c, d): ${r.workers}. Bundled with esbuild from the same sources \`wrangler deploy\` uses; c/d get wrangler.toml's bindings (KV, Durable Objects, vars) and a seeded ${'1k'}-route snapshot (bench/harness/snapshot.ts) whose target route splits 90/10 over two Backends, both pointing at the upstream.`,
    );
    const hookNote =
      'Edgeway reaches origins with `fetch(<client URL>, { cf: { resolveOverride } })`. workerd ignores resolveOverride, so in dev something must emulate it, and that costs what production does not pay. ' +
      'b, c and d all take the same emulated path, so c/b and d/c compare like with like; b0 is the same bare Worker fetching the upstream URL directly, so b/b0 shows what the emulation costs. Absolute Worker figures are therefore pessimistic; the ratios are the point.';
    L.push(
      r.outbound === 'worker'
        ? `- **Outbound path (this run: in-workerd outbound Worker).** ${hookNote} Here a small outbound Worker in the same workerd (bench/outbound-worker.ts) rewrites the URL to the override host (the upstream then sees 127.0.0.1 as Host, which the static upstream ignores). The repo's dev/test hook, src/dev/outbound.ts, sends every fetch workerd → Node → upstream; on this machine it tops out at a few hundred req/s, so with it b, c and d are all hook-bound and c/b drifts to ~1 whatever Edgeway costs. \`BENCH_OUTBOUND=hook npm run bench\` measures with that hook instead.`
        : `- **Outbound path (this run: Node dev hook src/dev/outbound.ts).** ${hookNote} The hook sends every fetch workerd → Node → upstream and tops out at a few hundred req/s here, so b, c and d may all be hook-bound, which pulls c/b towards 1 whatever Edgeway costs; the default run uses an in-workerd outbound Worker (bench/outbound-worker.ts) instead.`,
    );
    L.push(
      `- Miniflare puts its outbound interceptor Worker in front of every Worker's fetches (b0 included) — dev-only cost. The Workers' log lines (${r.workerLogLines} this run) are counted and dropped instead of being piped through the Node process.`,
    );
    L.push(
      "- nginx (e) and haproxy (f) run with configs written to a temp dir, one worker/thread each (like workerd's one JS thread), upstream keep-alive on, non-daemon, stopped at the end.",
    );
    L.push(
      '- Everything (wrk, proxies, workerd, the Node process, upstream) shares the same 2 cores, so every figure includes that contention.',
      '',
    );
    L.push('| id | target | req/s | p50 ms | p99 ms | req/s vs b | p99 vs b | non-2xx | socket errors | req/s per round |');
    L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const t of r.targets) {
      if (!t.median) {
        L.push(`| ${t.id} | ${cell(t.label)} | — | — | — | — | — | — | — | not measured: ${cell(t.reason ?? 'no successful round')} |`);
        continue;
      }
      const vb = b ? `${f2(t.median.rps / b.rps)}x` : '—';
      const pb = b ? `${f2(t.median.p99Ms / b.p99Ms)}x` : '—';
      L.push(
        `| ${t.id} | ${cell(t.label)} | ${f0(t.median.rps)} | ${f2(t.median.p50Ms)} | ${f2(t.median.p99Ms)} | ${vb} | ${pb} | ${t.non2xx} | ${t.socketErrors} | ${t.rounds.map((x) => f0(x.rps)).join(', ')} |`,
      );
    }
    L.push('');
    L.push('What each target is:', '');
    for (const t of r.targets) L.push(`- **${t.id}** ${cell(t.describe)}${t.probe ? ` — first response: ${t.probe.status}` : ''}`);
    L.push('');
    L.push('| ratio (this run) | value |', '| --- | ---: |');
    for (const [k, v] of Object.entries(r.ratios)) L.push(`| ${k} | ${v === null ? '—' : `${f2(v)}x`} |`);
    L.push('');
    const spread = Object.entries(r.perRound).filter(([, xs]) => xs.length > 1);
    if (spread.length) {
      L.push('Per-round ratios (spread shows the noise):', '');
      for (const [k, xs] of spread) L.push(`- ${k}: ${xs.map(f2).join(', ')}`);
      L.push('');
    }
    for (const id of ['c', 'd']) {
      const t = byId(id);
      if (!t?.probe) continue;
      const dbg = Object.entries(t.probe.headers).filter(
        ([k]) => k.startsWith('x-edgeway') || k.startsWith('ratelimit') || k.startsWith('x-ratelimit'),
      );
      L.push(
        `- First response of **${id}** to the bench request: status ${t.probe.status}${dbg.length ? `, ${dbg.map(([k, v]) => `\`${k}: ${v}\``).join(', ')}` : ' (no x-edgeway-* or RateLimit headers)'}.`,
      );
    }
    const primary = r.backendHits['bench-primary'] ?? 0;
    const canary = r.backendHits['bench-canary'] ?? 0;
    if (primary + canary > 0)
      L.push(
        `- Observed split on the target route (c and d, from the gateway's log lines): bench-primary ${((100 * primary) / (primary + canary)).toFixed(1)}%, bench-canary ${((100 * canary) / (primary + canary)).toFixed(1)}% of ${primary + canary} requests (configured 90/10).`,
      );
    else if (r.workerLogLines === 0) L.push('- The gateway wrote no log lines, so the 90/10 split could not be checked from them.');
    if (r.rateLimitHeaders === false)
      L.push(
        '- **d answered without RateLimit headers**: the gateway did not apply the policy, so d measured Edgeway without rate limiting.',
      );
    L.push('');
  }
  L.push('## 3. Failover and rate limiting', '');
  L.push('### Rate-limit accuracy (bench/ratelimit.ts)', '');
  L.push(sectionText(r.rateLimit, (d) => genericTable(d, RATE_LIMIT_FIELDS)));
  L.push('### Failover (chaos/, from docs/reliability.md)', '');
  L.push(sectionText(r.failover, (d) => (d as string[]).join('\n\n') + '\n\nSource: [docs/reliability.md](reliability.md).\n'));

  if (r.errors.length) {
    L.push('## Errors in this run', '');
    for (const e of r.errors) L.push(`- ${cell(e.split('\n')[0] ?? e)}`);
    L.push('');
  }
  L.push('## Running it', '');
  L.push(
    '`npm run bench` (full: about 8–9 minutes, ends by itself within 12). `BENCH_QUICK=1 npm run bench` for one 2 s round per target while developing; `BENCH_ISOLATE=0` skips the in-isolate section; `npm run bench:ops` runs that section alone (`OPS_ONLY`, `OPS_ROUNDS`, `OPS_TARGET_S`; `OPS_PROFILE=pipeline:all` for a V8 profile of the pipeline; `OPS_BASELINE=<saved .bench-tmp/prod/bundles/ops.js>` for an A/B of two versions of the code). Knobs of the production-like section: `BENCH_TARGETS=p,b,c,d` (ids of section 2), `BENCH_ROUNDS`, `BENCH_DURATION` (headline targets, s), `BENCH_SHORT_DURATION` (variants and context, s), `BENCH_CONNECTIONS`, `BENCH_THREADS`, `BENCH_UPSTREAM=node`. `BENCH_DEV=1` adds the Miniflare dev-path table (2b; `BENCH_DEV_TARGETS`, `BENCH_DEV_DURATION`, `BENCH_DEV_THREADS`, `BENCH_OUTBOUND=hook`). Needs wrk, nginx and haproxy (Debian packages; installed with apt-get when run as root, otherwise the run stops with the apt-get command to use). Figures from a busy machine (other builds or tests running) are not worth quoting: re-run on a quiet one.',
    '',
  );
  // bench/scale.ts measures the table-scale section on its own: keep it.
  L.push(...keptScaleSection(join(ROOT, 'docs/benchmarks.md')));
  writeFileSync(join(ROOT, 'docs/benchmarks.md'), await pretty(L.join('\n'), 'docs/benchmarks.md'));

  const S: string[] = [];
  S.push('', `bench ${r.mode} run (${r.durationS} s), production-like`);
  for (const t of r.prod.targets)
    S.push(
      `  ${t.id.padEnd(9)} ${t.label.padEnd(26)} ${t.median ? `${f0(t.median.rps).padStart(7)} req/s  p50 ${f2(t.median.p50Ms)} ms  p99 ${f2(t.median.p99Ms)} ms${t.median.cpuUsPerRequest !== null ? `  ${f0(t.median.cpuUsPerRequest)} µs CPU/req` : ''}` : `not measured: ${t.reason ?? ''}`}`,
    );
  for (const st of r.prod.stages)
    if (st.cpuUs !== null) S.push(`  stage: ${st.name}: ${st.cpuUs >= 0 ? '+' : ''}${f0(st.cpuUs)} µs CPU/req (${st.how})`);
  if (r.devTable) S.push('  dev path (BENCH_DEV=1):');
  for (const t of r.targets)
    S.push(
      `  ${t.id.padEnd(3)} ${t.label.padEnd(24)} ${t.median ? `${f0(t.median.rps).padStart(7)} req/s  p50 ${f2(t.median.p50Ms)} ms  p99 ${f2(t.median.p99Ms)} ms` : `not measured: ${t.reason ?? ''}`}`,
    );
  for (const v of r.verdicts)
    S.push(
      `  ${v.holds === null ? 'n/a ' : v.holds ? 'OK  ' : 'FAIL'} ${v.name}: ${v.measured} (goal ${v.target})${v.note ? ` — ${v.note}` : ''}`,
    );
  S.push(`  wrote docs/benchmarks.md, ${CHART}, ${RAW}`);
  return S.join('\n');
}

const us = (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${f0(n)}`);
const signed = (n: number | null) => (n === null ? '—' : `${n >= 0 ? '+' : '−'}${f0(Math.abs(n))}`);

/** Section 2: how the production-like run was set up, its table, the per-stage table and the checks. */
function prodSection(r: Results, L: string[]): void {
  const p = r.prod;
  const byId = (id: string) => p.targets.find((t) => t.id === id);
  const b = byId('b')?.median;
  const l = p.load;
  L.push(
    `Load: \`wrk -t${l.threads} -c${l.connections} --latency\` with \`Host: api.bench.test\` and \`CF-Connecting-IP\`, ${r.rounds} round(s); each round runs every target once (order rotated each round) for ${l.durationS} s (p, b, c, d) or ${l.shortDurationS} s (variants, context), each after a ${'1'} s warm-up (2 s in round 1). Figures are medians over rounds; ratios are from this run's medians.`,
    '',
  );
  L.push(
    `- **Workers**: ${p.workers}. Edgeway is the bundle \`${p.bundle?.command ?? 'wrangler deploy --dry-run'}\` writes (${p.bundle ? `${(p.bundle.bytes / 1024).toFixed(0)} KiB, ${p.bundle.inputs} source files` : 'not built'}), i.e. what \`npm run deploy:dry\` uploads, with wrangler.toml's bindings and [vars] and no EDGEWAY_ENV (production mode: no dev fetch wrapper). Config generated by bench/harness/prod.ts.`,
  );
  L.push(
    "- **KV**: workerd implements a `kvNamespace` binding as HTTP calls to a service; each Edgeway Worker's ROUTES is served by its own small Worker (bench/kv-worker.ts) answering GETs from a JSON module seeded with the table (pointer + snapshot). The gateway reads KV at start and on its background refresh (every 5 s), not per request, so the KV stand-in is off the request path. **Durable Objects**: the bundle's own classes (RateLimiterDO, HealthCheckerDO, CoordinatorDO) with SQL enabled, stored in a temp directory (workerd's in-memory storage has no SQLite), in the same process. The Edgeway targets' log lines per request show whether the limiter answered: a `ratelimit_unavailable` warning is a second line. Chosen over Miniflare because Miniflare always adds its entry/outbound machinery; plain workerd with a generated config is what production runs, minus Cloudflare's edge.",
  );
  L.push(
    `- **Table**: ${'1000'} HTTPRoutes (bench/harness/snapshot.ts: exact and wildcard hosts, prefix/exact/regex paths, header matches, 20 routes on the request's host). The target route has no hostnames, so it is a catch-all matched after the host-specific routes, and the gateway connects to its endpoint by the endpoint's own name: no resolveOverride is needed, and none is emulated.`,
  );
  L.push(
    `- **Upstream**: ${r.upstream} on loopback; every Worker fetches it directly through a workerd network service that allows loopback.`,
  );
  L.push(
    `- **Logs**: workerd writes the Workers' console.log lines to stdout; stdout and stderr go to a file (never through the Node process), counted and truncated after each run: ${p.logLines} lines this run.`,
  );
  L.push(
    "- **CPU µs/request**: the workerd process's utime + stime (all threads, `/proc/<pid>/stat`) over the measured run, divided by the requests wrk completed. Targets run one at a time, so the process's CPU in a run is that target's (plus a few table refresh checks). It includes workerd's own HTTP parsing and socket work, not only JavaScript. \"above b\" = this minus the bare Hono proxy's figure. Resolution is the kernel tick (10 ms) over several seconds of CPU: about ±1%.",
  );
  L.push(
    '- Everything (wrk, workerd, nginx, this Node process) shares the same cores, so every figure includes that contention; the machine is shared with other work, so compare ratios within one run.',
    '',
  );
  L.push(`![median req/s and p99 per target (log scales)](../${CHART})`, '');
  L.push(
    '| id | target | req/s | p50 ms | p99 ms | req/s vs b | p99 vs b | CPU µs/req | CPU µs/req above b | log lines/req | non-2xx | socket errors | req/s per round |',
  );
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const t of p.targets) {
    if (!t.median) {
      L.push(
        `| ${t.id} | ${cell(t.label)} | — | — | — | — | — | — | — | — | — | — | not measured: ${cell(t.reason ?? 'no successful round')} |`,
      );
      continue;
    }
    const vb = b ? `${f2(t.median.rps / b.rps)}x` : '—';
    const pb = b ? `${f2(t.median.p99Ms / b.p99Ms)}x` : '—';
    const above =
      b && b.cpuUsPerRequest !== null && t.median.cpuUsPerRequest !== null ? signed(t.median.cpuUsPerRequest - b.cpuUsPerRequest) : '—';
    const logs = t.rounds.map((x) => x.logLinesPerRequest).filter((x): x is number => x !== null);
    L.push(
      `| ${t.id} | ${cell(t.label)} | ${f0(t.median.rps)} | ${f2(t.median.p50Ms)} | ${f2(t.median.p99Ms)} | ${vb} | ${pb} | ${us(t.median.cpuUsPerRequest)} | ${above} | ${logs.length ? f2(logs[logs.length - 1]!) : '—'} | ${t.non2xx} | ${t.socketErrors} | ${t.rounds.map((x) => f0(x.rps)).join(', ')} |`,
    );
  }
  L.push('');
  L.push('What each target is:', '');
  for (const t of p.targets) L.push(`- **${t.id}** ${cell(t.describe)}${t.probe ? ` — first response: ${t.probe.status}` : ''}`);
  L.push('');
  L.push('| ratio (this run) | value |', '| --- | ---: |');
  for (const [k, v] of Object.entries(p.ratios)) L.push(`| ${k} | ${v === null ? '—' : `${f2(v)}x`} |`);
  L.push('');
  const spread = Object.entries(p.perRound).filter(([, xs]) => xs.length > 1);
  if (spread.length) {
    L.push('Per-round ratios (spread shows the noise):', '');
    for (const [k, xs] of spread) L.push(`- ${k}: ${xs.map(f2).join(', ')}`);
    L.push('');
  }

  L.push('### Where the CPU goes (by variant)', '');
  L.push(
    "Each row is the median CPU µs/request of one target minus another's, from the same run (workerd freezes `Date.now()` within a request, so there is no per-stage timer in the production bundle; the in-isolate section below prices the stages directly). Differences under ~20 µs are within this shared machine's run-to-run noise; `npm run bench:ab` settles a single change with many alternating rounds.",
    '',
  );
  L.push('| stage | CPU µs/req | req/s ratio | how |', '| --- | ---: | ---: | --- |');
  for (const st of p.stages)
    L.push(`| ${cell(st.name)} | ${signed(st.cpuUs)} | ${st.rpsRatio === null ? '—' : `${f2(st.rpsRatio)}x`} | ${cell(st.how)} |`);
  L.push('');

  isolateSection(r, L);

  L.push('### Where the CPU goes (V8 profile of c)', '');
  if (p.profile.status !== 'ok') L.push(`Not profiled: ${p.profile.status}, ${cell(p.profile.reason)}.`, '');
  else {
    const pr = p.profile.data;
    L.push(
      `A second workerd (same config, only c, inspector on) under the same wrk load while V8's sampling profiler ran: ${pr.requests} requests, ${(pr.sampledMs / 1000).toFixed(1)} s sampled, isolate thread idle ${(100 * pr.idleShare).toFixed(0)}% of it, **${f0(pr.busyUsPerRequest)} µs busy per request** (the profiler itself adds some; compare shares, and the CPU µs/req above for absolute cost). The profiled isolate's console.log is a no-op: with an inspector attached every log call is also sent to the inspector, which would otherwise show up as a large self time in the access-log stage. Self time goes to the source file of the bundle it ran in; native calls (fetch, Request/Headers, crypto, console.log) count for the JS file that made them (the "of which native" column); V8 builtins such as JSON.stringify show up as the caller's own time. "(program)" is workerd's C++ outside JavaScript (HTTP parsing, sockets, KV/DO plumbing).`,
      '',
    );
    // The sampler counts wall time on the isolate thread, which a busy machine inflates; the shares are the
    // robust part, so they are also shown scaled to c's measured process CPU per request.
    const cCpu = byId('c')?.median?.cpuUsPerRequest ?? null;
    L.push(
      `| source (stage) | share of busy time | ≈ µs of c's measured ${cCpu === null ? '?' : f0(cCpu)} µs CPU/req | profiled µs/req | of which native calls (profiled µs/req) |`,
      '| --- | ---: | ---: | ---: | ---: |',
    );
    for (const f of pr.byFile.filter((x) => x.share >= 0.005))
      L.push(
        `| ${cell(f.file)} | ${(100 * f.share).toFixed(1)}% | ${cCpu === null ? '—' : (f.share * cCpu).toFixed(0)} | ${f.usPerRequest.toFixed(1)} | ${f.nativeUsPerRequest.toFixed(1)} |`,
      );
    L.push('');
    L.push('Top functions by self time:', '');
    L.push('| function [source] | share of busy time | profiled µs/req |', '| --- | ---: | ---: |');
    for (const f of pr.topFunctions) L.push(`| ${cell(f.fn)} | ${(100 * f.share).toFixed(1)}% | ${f.usPerRequest.toFixed(1)} |`);
    L.push('');
  }

  L.push('### Checks', '');
  for (const id of ['c', 'd', 'v-debug', 'v-split']) {
    const t = byId(id);
    if (!t?.probe) continue;
    const dbg = Object.entries(t.probe.headers).filter(
      ([k]) => k.startsWith('x-edgeway') || k.startsWith('ratelimit') || k.startsWith('x-ratelimit') || k === 'x-request-id',
    );
    L.push(
      `- First response of **${id}**: status ${t.probe.status}${dbg.length ? `, ${dbg.map(([k, v]) => `\`${k}: ${v}\``).join(', ')}` : ''}.`,
    );
  }
  for (const [id, hits] of Object.entries(p.backendHits)) {
    const primary = hits['bench-primary'] ?? 0;
    const canary = hits['bench-canary'] ?? 0;
    if (id === 'v-split' && primary + canary > 0)
      L.push(
        `- Observed split of **v-split** (from its log lines): bench-primary ${((100 * primary) / (primary + canary)).toFixed(1)}%, bench-canary ${((100 * canary) / (primary + canary)).toFixed(1)}% of ${primary + canary} requests (configured 90/10).`,
      );
  }
  const sample = p.logSample['c'];
  if (sample) L.push(`- One access-log line of **c**, as workerd wrote it: \`${cell(sample.slice(0, 400))}\``);
  L.push('');
}

/** In the isolate (bench/ops.ts): per-stage CPU without wrk's noise, the price of runtime operations, and the floor. */
function isolateSection(r: Results, L: string[]): void {
  const iso = r.prod.isolate;
  L.push('### Where the CPU goes (in the isolate, per stage)', '');
  if (iso.status !== 'ok') {
    L.push(`Not measured: ${iso.status}, ${cell(iso.reason)}.`, '');
    return;
  }
  const d = iso.data;
  const rounds = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
  L.push(
    `bench/ops.ts runs one thing n times inside ONE request of an otherwise idle workerd (bench/ops-worker.ts, same compatibility settings) and reads workerd's CPU time (/proc) around the call: no wrk, no socket per request, so differences of a few µs are visible. The gateway's own pipeline (src/app/pipeline.ts, the production bench's ${1000}-route table, the bench request) is cut after each stage and answered in the isolate, so **a stage's cost is the cut after it minus the cut before it**; "forward" uses a stub fetch that returns a made-up upstream answer (its own cost, about one \`new Response(body, init)\` below, is inside the forward figure). Medians of ${d.rounds} interleaved round(s); per-round values show the noise (a few µs).`,
    '',
  );
  L.push('| stage | CPU µs per request | per round |', '| --- | ---: | --- |');
  for (const s of d.stages) L.push(`| ${cell(s.stage)} | ${s.us.toFixed(1)} | ${rounds(s.rounds)} |`);
  const p = (id: string) => d.pipeline.find((x) => x.id === id);
  const f = (id: string) => d.fetch.find((x) => x.id === id);
  const o = (id: string) => d.sync.find((x) => x.id === id);
  const base = p('pipeline:0');
  const all = p('pipeline:all');
  if (base && all)
    L.push(
      `| **all stages** (pipeline with stub fetch minus the request context and stub answer alone, ${base.us.toFixed(1)} µs) | **${(all.us - base.us).toFixed(1)}** | |`,
    );
  const rl = p('pipeline:rl-all');
  if (rl && all)
    L.push(
      `| rate-limit stage with a RateLimitPolicy (gate, leases and the limiter's own core in this isolate, no Durable Object storage or RPC): pipeline with the policy minus without | ${(rl.us - all.us).toFixed(1)} | ${rounds(rl.rounds.map((x, i) => x - (all.rounds[i] ?? Number.NaN)))} |`,
    );
  L.push('');
  const clock = p('pipeline:clock');
  if (clock && all)
    L.push(
      `Check: Date.now() stands still inside a request without I/O, so the stub runs see one instant; with a clock that moves 50 µs per reading the whole pipeline costs ${clock.us.toFixed(1)} µs (vs ${all.us.toFixed(1)}), so time-dependent work (health windows, budgets) is not hidden by the frozen clock.`,
      '',
    );
  const real = p('pipeline:real');
  const bare = f('fetch-bare');
  if (real && bare)
    L.push(
      `With a real upstream (nginx on loopback), one request after another and nothing else running, the whole pipeline costs **${real.us.toFixed(0)} µs** per request against **${bare.us.toFixed(0)} µs** for \`fetch(new Request(url, request))\`, the bare proxy's whole handler: **+${(real.us - bare.us).toFixed(0)} µs**. That is more than under wrk (c minus b above), because here every request finds the isolate's caches cold after the round trip; under 32 concurrent connections the isolate stays warm and the stub figures above are the better guide to the JavaScript's cost. The tables below price the native work around a real fetch that the stub cannot show.`,
      '',
    );
  L.push('Runtime operations the request path performs, each alone in a tight loop (CPU µs per call):', '');
  L.push('| operation | CPU µs | per round |', '| --- | ---: | --- |');
  for (const x of d.sync) L.push(`| ${cell(x.label)} | ${x.us.toFixed(2)} | ${rounds(x.rounds)} |`);
  L.push('');
  L.push('The same with a real upstream fetch each time (CPU µs per request, the fetch included):', '');
  L.push('| operation | CPU µs | per round |', '| --- | ---: | --- |');
  for (const x of d.fetch) L.push(`| ${cell(x.label)} | ${x.us.toFixed(1)} | ${rounds(x.rounds)} |`);
  L.push('');
  // The features the issue keeps (timeouts, request id on the answer, forwarding headers, the log line) each need
  // runtime work the bare proxy does not do; their sum is a floor under Edgeway's cost above b.
  const url = f('fetch-url');
  const native = f('fetch-native');
  const diff = (x: IsolateOp | undefined, y: IsolateOp | undefined) => (x && y ? x.us - y.us : null);
  const parts: [string, number | null][] = [
    [
      'the native work around the upstream fetch, measured together: forwarding headers, a timeout signal, the response copied with x-request-id (fetch-native minus fetch-bare above)',
      diff(native, bare),
    ],
    ['the access-log line (timestamp + console.log)', o('log') && o('iso') ? o('log')!.us + o('iso')!.us : null],
    ['ids (request id, traceparent span and trace ids)', o('uuid') && o('hex8') ? o('uuid')!.us + 2 * o('hex8')!.us : null],
  ];
  const singles: [string, number | null][] = [
    ['timeout signal on the fetch', diff(f('fetch-timeout'), url)],
    ['response copy + x-request-id', diff(f('fetch-copy'), url)],
    ['forwarding headers on top of the client headers', diff(f('fetch-headers'), bare)],
  ];
  const known = parts.filter((x): x is [string, number] => x[1] !== null);
  const floor = known.reduce((a, [, v]) => a + v, 0);
  const b = r.prod.targets.find((t) => t.id === 'b')?.median?.cpuUsPerRequest ?? null;
  L.push('**Cost floor of the kept features** (from the rows above):', '');
  L.push('| feature | CPU µs per request |', '| --- | ---: |');
  for (const [name, v] of known) L.push(`| ${cell(name)} | ${v.toFixed(1)} |`);
  L.push(`| **sum** | **${floor.toFixed(1)}** |`, '');
  const single = singles.filter((x): x is [string, number] => x[1] !== null);
  if (single.length)
    L.push(`Of the first row, measured one at a time: ${single.map(([n, v]) => `${n} ${v.toFixed(1)} µs`).join('; ')}.`, '');
  const c = r.prod.targets.find((t) => t.id === 'c')?.median?.cpuUsPerRequest ?? null;
  const stubAnswer = o('response');
  if (base && all && stubAnswer && native && bare && b !== null && c !== null) {
    const js = all.us - base.us - stubAnswer.us;
    const around = native.us - bare.us;
    L.push(
      `**Accounting for c − b** (warm): the stages' own work with a stub upstream, less the stub's answer, ${js.toFixed(0)} µs + the native work around a real fetch ${around.toFixed(0)} µs = **${(js + around).toFixed(0)} µs**, against **${(c - b).toFixed(0)} µs** measured under wrk (c minus b). The two terms overlap by the few µs the Headers copy, the timeout signal and the response copy cost in a tight loop; what is left over is the request frame outside the stages (the Hono app with the admin and dashboard routes, the table lookup, the per-request dependencies) and the difference between a loop and real traffic.`,
      '',
    );
  }
  if (b !== null) {
    const budget = b / 0.85 - b;
    L.push(
      `The req/s target (c ≥ 0.85× b) leaves **${budget.toFixed(0)} µs** per request above b's ${b.toFixed(0)} µs when, as here, the run is CPU-bound. These features alone take ${floor.toFixed(0)} µs of it (${((100 * floor) / budget).toFixed(0)}%), before any routing, health or balancing work.`,
      '',
    );
  }
}
