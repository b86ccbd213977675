/**
 * The production-like Worker setup: the bundle `wrangler deploy --dry-run` produces, run by ONE plain workerd
 * process from a generated capnp config, each Worker on its own direct socket. No Miniflare: no entry worker, no
 * outbound interceptor, no dev hook; Edgeway runs without EDGEWAY_ENV, as in production.
 *
 * - KV: workerd turns a `kvNamespace` binding into HTTP calls to a service; bench/kv-worker.ts answers them from a
 *   JSON module holding the seeded table (the gateway only reads KV: at start and on its background refresh).
 * - Durable Objects: the bundle's own classes (RateLimiterDO, ...) with SQL enabled, stored in a temp directory
 *   (workerd's in-memory storage has no SQLite).
 * - Outbound: a network service that allows loopback, so Workers fetch the nginx upstream directly.
 * - Logs: workerd writes console.log lines to stdout; stdout and stderr go to a file (never through this Node
 *   process), which the harness counts and truncates between runs.
 */
import { existsSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { unstable_readConfig } from 'wrangler';
import { KV_POINTER_KEY, snapshotKey, type Snapshot } from '../../src/schema/snapshot.js';
import { freePort, run, startToFile, waitForPort, type Started } from './procs.js';
import { workDir } from './servers.js';

const ROOT = process.cwd();
const DIR = join(ROOT, '.bench-tmp', 'prod');

export interface ProdSpec {
  /** Service and socket name: lower-case letters, digits and dashes. */
  name: string;
  /** edgeway = the production bundle; hono = bench/bare-worker.ts; plain = bench/plain-worker.ts; ops = bench/ops-worker.ts. */
  kind: 'edgeway' | 'hono' | 'plain' | 'ops';
  /** Text bindings added to (and overriding) wrangler.toml's [vars] (edgeway) or the baseline's UPSTREAM. */
  vars?: Record<string, string>;
  /** Table seeded into this Worker's own KV namespace (edgeway only). */
  snapshot?: Snapshot;
  /** Bench-only variant: console.log is a no-op in this isolate (the log line is still built, not written). */
  silenceLog?: boolean;
  /** Another build of this Worker (edgeway: a saved index.js; ops: a saved ops bundle), for A/B runs. */
  bundleFile?: string;
}

export interface Bundle {
  file: string;
  bytes: number;
  /** Source files in the bundle, relative to the repo root (from its source map). */
  inputs: string[];
  command: string;
}

export interface LogDrain {
  lines: number;
  /** Requests per target-route Backend seen in the gateway's log lines. */
  backendHits: Record<string, number>;
  /** A few lines, for the report. */
  sample: string[];
}

export interface ProdWorkerd {
  ports: Record<string, number>;
  pid: number;
  bundle: Bundle;
  workerd: string;
  /** CPU seconds (user + system, all threads) the workerd process has used so far, from /proc/<pid>/stat. */
  cpuSeconds(): number;
  /** Counts the log lines written since the last call and empties the log file. */
  drainLog(): LogDrain;
  describe: string;
  stop(): Promise<void>;
}

/** The workerd binary npm installed (the one wrangler and miniflare use). */
export function findWorkerd(): string | null {
  const arch = process.arch === 'x64' ? '64' : process.arch;
  const candidates = [
    join(ROOT, 'node_modules', 'workerd', 'bin', 'workerd'),
    join(ROOT, 'node_modules', '@cloudflare', `workerd-${process.platform}-${arch}`, 'bin', 'workerd'),
  ];
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** `wrangler deploy --dry-run --outdir`: exactly what `npm run deploy:dry` uploads. */
export async function buildProductionBundle(): Promise<Bundle> {
  const outdir = join(DIR, 'dist');
  mkdirSync(outdir, { recursive: true });
  const wrangler = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
  const args = [wrangler, 'deploy', '--dry-run', '--outdir', outdir];
  // The project's own Node (devDependency "node") when installed: wrangler needs Node 22 or newer.
  const local = join(ROOT, 'node_modules', '.bin', 'node');
  const node = existsSync(local) ? local : process.execPath;
  const r = await run(node, args, 180_000, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
  });
  const file = join(outdir, 'index.js');
  if (r.code !== 0 || !existsSync(file))
    throw new Error(
      `wrangler deploy --dry-run failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`,
    );
  let inputs: string[] = [];
  try {
    const map = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources?: string[] };
    inputs = (map.sources ?? []).map((s) => relative(ROOT, resolve(outdir, s)));
  } catch {
    /* no source map: inputs stay unknown */
  }
  return { file, bytes: statSync(file).size, inputs, command: 'wrangler deploy --dry-run --outdir <dir>' };
}

/** The baselines and the KV service are bundled with esbuild the way wrangler does (ESM, workerd conditions, no minify). */
async function bundleSmall(entry: string, outName: string, external: string[] = []): Promise<string> {
  const outfile = join(DIR, 'bundles', outName);
  await esbuild.build({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['node:*', 'cloudflare:*', ...external],
    minify: false,
    logLevel: 'error',
  });
  return outfile;
}

const q = (s: string) => JSON.stringify(s);
const rel = (p: string) => q(relative(DIR, p));

/** Writes the capnp config (and the files it embeds) and returns its path and each target's port. */
async function writeConfig(specs: ProdSpec[], bundle: Bundle, upstream: string, configName: string) {
  const wr = unstable_readConfig({ config: join(ROOT, 'wrangler.toml') });
  const sqlite = new Set(wr.migrations.flatMap((m: { new_sqlite_classes?: string[] }) => m.new_sqlite_classes ?? []));
  const vars = Object.fromEntries(
    Object.entries((wr.vars ?? {}) as Record<string, unknown>).filter(([, v]) => typeof v === 'string'),
  ) as Record<string, string>;
  const compat = [
    `compatibilityDate = ${q(wr.compatibility_date ?? '2026-10-01')}`,
    `compatibilityFlags = [${(wr.compatibility_flags ?? []).map(q).join(', ')}]`,
  ].join(', ');
  mkdirSync(join(DIR, 'kv'), { recursive: true });
  const hono = specs.some((s) => s.kind === 'hono') ? await bundleSmall('bench/bare-worker.ts', 'hono.js') : '';
  const plain = specs.some((s) => s.kind === 'plain') ? await bundleSmall('bench/plain-worker.ts', 'plain.js') : '';
  const ops = specs.some((s) => s.kind === 'ops') ? await bundleSmall('bench/ops-worker.ts', 'ops.js') : '';
  const kv = specs.some((s) => s.kind === 'edgeway') ? await bundleSmall('bench/kv-worker.ts', 'kv-worker.js', ['./kv-data.json']) : '';
  const silence = join(DIR, 'bundles', 'silence.js');
  const silenceEntry = join(DIR, 'bundles', 'silence-entry.js');
  writeFileSync(silence, '// Bench variant: the log line is built but not written.\nconsole.log = () => {};\n');
  writeFileSync(silenceEntry, "import './silence.js';\nexport * from './index.js';\nexport { default } from './index.js';\n");

  // workerd's in-memory storage has no SQLite, so SQL-backed classes need a disk directory (a temp dir per run).
  const doDir = join(workDir(), `durable-objects-${configName.replace(/\W/g, '-')}`);
  mkdirSync(doDir, { recursive: true });
  const services: string[] = [
    `(name = "internet", network = (allow = ["public", "private", "local"]))`,
    `(name = "do-disk", disk = (path = ${q(doDir)}, writable = true))`,
  ];
  const sockets: string[] = [];
  const ports: Record<string, number> = {};
  for (const spec of specs) {
    const port = await freePort();
    ports[spec.name] = port;
    sockets.push(`(name = ${q(`s-${spec.name}`)}, address = ${q(`127.0.0.1:${port}`)}, http = (), service = ${q(spec.name)})`);
    if (spec.kind !== 'edgeway') {
      const bindings = Object.entries({ UPSTREAM: upstream, ...spec.vars }).map(([k, v]) => `(name = ${q(k)}, text = ${q(v)})`);
      services.push(
        `(name = ${q(spec.name)}, worker = (modules = [(name = "worker.js", esModule = embed ${rel(spec.kind === 'hono' ? hono : spec.kind === 'ops' ? (spec.bundleFile ?? ops) : plain)})], ${compat}, bindings = [${bindings.join(', ')}], globalOutbound = "internet"))`,
      );
      continue;
    }
    const kvService = `kv-${spec.name}`;
    const data: Record<string, string> = {};
    if (spec.snapshot) {
      // Snapshot first, then the pointer (KV layout in docs/ENGINEERING.md).
      data[snapshotKey(spec.snapshot.version)] = JSON.stringify(spec.snapshot);
      data[KV_POINTER_KEY] = JSON.stringify({
        version: spec.snapshot.version,
        key: snapshotKey(spec.snapshot.version),
        updatedAt: new Date().toISOString(),
      });
    }
    const dataFile = join(DIR, 'kv', `${spec.name}.json`);
    writeFileSync(dataFile, JSON.stringify(data));
    services.push(
      `(name = ${q(kvService)}, worker = (modules = [(name = "kv-worker.js", esModule = embed ${rel(kv)}), (name = "kv-data.json", json = embed ${rel(dataFile)})], ${compat}))`,
    );
    const modules = spec.silenceLog
      ? [
          `(name = "entry.js", esModule = embed ${rel(silenceEntry)})`,
          `(name = "silence.js", esModule = embed ${rel(silence)})`,
          `(name = "index.js", esModule = embed ${rel(spec.bundleFile ?? bundle.file)})`,
        ]
      : [`(name = "index.js", esModule = embed ${rel(spec.bundleFile ?? bundle.file)})`];
    const bindings = [
      ...Object.entries({ ...vars, ...spec.vars }).map(([k, v]) => `(name = ${q(k)}, text = ${q(v)})`),
      ...wr.kv_namespaces.map((k: { binding: string }) => `(name = ${q(k.binding)}, kvNamespace = ${q(kvService)})`),
      ...wr.durable_objects.bindings.map(
        (d: { name: string; class_name: string }) => `(name = ${q(d.name)}, durableObjectNamespace = ${q(d.class_name)})`,
      ),
    ];
    const classes: string[] = [...new Set<string>(wr.durable_objects.bindings.map((d: { class_name: string }) => d.class_name))];
    const namespaces = classes.map(
      (c) => `(className = ${q(c)}, uniqueKey = ${q(`edgeway-bench-${spec.name}-${c}`)}, enableSql = ${sqlite.has(c)})`,
    );
    services.push(
      `(name = ${q(spec.name)}, worker = (modules = [${modules.join(', ')}], ${compat}, bindings = [${bindings.join(', ')}], durableObjectNamespaces = [${namespaces.join(', ')}], durableObjectStorage = (localDisk = "do-disk"), globalOutbound = "internet"))`,
    );
  }
  const config = `# Generated by bench/harness/prod.ts for one bench run; not a deployment config.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    ${services.join(',\n    ')}
  ],
  sockets = [
    ${sockets.join(',\n    ')}
  ],
);
`;
  const path = join(DIR, configName);
  writeFileSync(path, config);
  return { path, ports };
}

let clockTicks = 100;
async function readClockTicks(): Promise<void> {
  const r = await run('getconf', ['CLK_TCK'], 5000).catch(() => null);
  const n = Number(r?.stdout.trim());
  if (Number.isFinite(n) && n > 0) clockTicks = n;
}

/** utime + stime of a process (all its threads), in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

export interface StartOptions {
  /** Reuse a bundle built earlier in the run instead of running wrangler again. */
  bundle?: Bundle;
  /** Turns on workerd's inspector (for the CPU profile) on this loopback port. */
  inspectorPort?: number;
  /** Distinguishes the config and log files of a second workerd. */
  tag?: string;
}

export async function startProdWorkerd(specs: ProdSpec[], upstream: string, opts: StartOptions = {}): Promise<ProdWorkerd> {
  const workerd = findWorkerd();
  if (!workerd) throw new Error('workerd binary not found under node_modules (npm install installs it with wrangler)');
  await readClockTicks();
  mkdirSync(join(DIR, 'bundles'), { recursive: true });
  const bundle = opts.bundle ?? (await buildProductionBundle());
  const tag = opts.tag ? `-${opts.tag}` : '';
  const { path, ports } = await writeConfig(specs, bundle, upstream, `workerd${tag}.capnp`);
  const logPath = join(workDir(), `workerd${tag}.log`);
  const tail = () => {
    try {
      return readFileSync(logPath, 'utf8').slice(-3000);
    } catch {
      return '';
    }
  };
  const args = ['serve', path, ...(opts.inspectorPort ? ['--inspector-addr', `127.0.0.1:${opts.inspectorPort}`] : [])];
  const proc: Started = startToFile(workerd, args, logPath, { cwd: dirname(path) });
  const exited = new Promise<never>((_, reject) =>
    proc.proc.once('exit', (code, sig) => reject(new Error(`workerd exited (${code ?? sig}) at start:\n${tail()}`))),
  );
  exited.catch(() => undefined);
  for (const spec of specs) await Promise.race([waitForPort(ports[spec.name]!, 30_000, tail), exited]);
  const pid = proc.proc.pid!;
  const drainLog = (): LogDrain => {
    let text = '';
    try {
      text = readFileSync(logPath, 'utf8');
      truncateSync(logPath, 0);
    } catch {
      /* nothing written yet */
    }
    const backendHits: Record<string, number> = {};
    let lines = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    for (const m of text.matchAll(/"backend":"[^"]*\/(bench-primary|bench-canary)"/g)) backendHits[m[1]!] = (backendHits[m[1]!] ?? 0) + 1;
    const sample = text.split('\n').filter(Boolean).slice(0, 2);
    return { lines, backendHits, sample };
  };
  return {
    ports,
    pid,
    bundle,
    workerd,
    cpuSeconds: () => processCpuSeconds(pid),
    drainLog,
    describe: `one workerd process (${relative(ROOT, workerd)}, serve with a generated capnp config), ${specs.length} Workers each on its own direct socket; no Miniflare, no entry or outbound Worker`,
    stop: proc.stop,
  };
}
