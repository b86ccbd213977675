/** Every Worker under test in ONE workerd process (Miniflare v5), each on its own loopback socket like a production isolate. */
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as esbuild from 'esbuild';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { unstable_readConfig } from 'wrangler';
import { resolveOverrideOutbound } from '../../src/dev/outbound.js';
import { KV_POINTER_KEY, snapshotKey, type Snapshot } from '../../src/schema/snapshot.js';
import { freePort, onCleanup } from './procs.js';

export interface WorkerSpec {
  name: string;
  /** Entry file, relative to the repo root. */
  entry: string;
  bindings: Record<string, string>;
  /**
   * How outbound fetches leave: 'hook' = the dev resolveOverride hook in Node (src/dev/outbound.ts), 'worker' = a
   * small Worker in the same workerd (bench/outbound-worker.ts), 'none' = straight out (no resolveOverride support).
   */
  outbound: 'hook' | 'worker' | 'none';
  /** Give the Worker wrangler.toml's bindings (KV, Durable Objects, vars), as the real gateway needs. */
  wranglerBindings: boolean;
  /** Snapshot to seed into its ROUTES KV namespace before traffic. */
  snapshot?: Snapshot;
}

export interface RunningWorkers {
  ports: Record<string, number>;
  /** Source files each bundle contains (tells the real gateway from the placeholder). */
  inputs: Record<string, string[]>;
  describe: string;
  dispose(): Promise<void>;
}

const ROOT = process.cwd();
// Miniflare only accepts script paths inside the cwd; .bench-tmp/ is git-ignored.
const OUT = join(ROOT, '.bench-tmp', 'workers');

async function bundle(entry: string, name: string): Promise<{ path: string; inputs: string[] }> {
  mkdirSync(OUT, { recursive: true });
  const outfile = join(OUT, `${name}.js`);
  const result = await esbuild.build({
    metafile: true,
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['node:*', 'cloudflare:*'],
    minify: false,
    logLevel: 'error',
  });
  return { path: relative(ROOT, outfile), inputs: Object.keys(result.metafile.inputs) };
}

const OUTBOUND_WORKER = 'bench-outbound';
let logLines = 0;
const backendHits: Record<string, number> = {};
/** Log lines the Workers wrote (and we dropped) so far. */
export const workerLogLines = () => logLines;
/** Requests per target-route Backend, counted from the gateway's log lines (empty if it logs none). */
export const targetBackendHits = () => ({ ...backendHits });

export async function startWorkers(specs: WorkerSpec[]): Promise<RunningWorkers> {
  const config = unstable_readConfig({ config: join(ROOT, 'wrangler.toml') });
  const sqliteClasses = new Set(config.migrations.flatMap((m: { new_sqlite_classes?: string[] }) => m.new_sqlite_classes ?? []));
  const ports: Record<string, number> = {};
  const inputs: Record<string, string[]> = {};
  const hook = resolveOverrideOutbound({ allowHost: (h) => h === '127.0.0.1' || h === 'localhost' });
  const workers = [];
  for (const spec of specs) {
    const port = await freePort();
    ports[spec.name] = port;
    const fromWrangler = spec.wranglerBindings
      ? {
          compatibilityFlags: config.compatibility_flags,
          kvNamespaces: Object.fromEntries(
            config.kv_namespaces.map((kv: { binding: string }) => [kv.binding, `${spec.name}-${kv.binding}`]),
          ),
          durableObjects: Object.fromEntries(
            config.durable_objects.bindings.map((d: { name: string; class_name: string }) => [
              d.name,
              { className: d.class_name, useSQLite: sqliteClasses.has(d.class_name) },
            ]),
          ),
          bindings: { ...(config.vars as Record<string, string>), ...spec.bindings },
        }
      : { bindings: spec.bindings };
    const built = await bundle(spec.entry, spec.name);
    inputs[spec.name] = built.inputs;
    workers.push({
      name: spec.name,
      modules: true,
      scriptPath: built.path,
      compatibilityDate: config.compatibility_date ?? '2026-10-01',
      ...fromWrangler,
      ...(spec.outbound === 'hook' ? { outboundService: hook } : spec.outbound === 'worker' ? { outboundService: OUTBOUND_WORKER } : {}),
      unsafeDirectSockets: [{ host: '127.0.0.1', port }],
    });
  }
  // The v4 option types do not model a function outboundService, which miniflare accepts at run time.
  if (specs.some((s) => s.outbound === 'worker'))
    workers.push({
      name: OUTBOUND_WORKER,
      modules: true,
      scriptPath: (await bundle('bench/outbound-worker.ts', OUTBOUND_WORKER)).path,
      compatibilityDate: config.compatibility_date ?? '2026-10-01',
    });
  // Per-request log lines would otherwise be piped through this Node process, which also runs the outbound hook:
  // that is dev-only cost, so the lines are counted and dropped.
  const handleStructuredLogs = (log: { message?: string }) => {
    logLines++;
    // The gateway's access log names the chosen backend: enough to check the 90/10 split really happened.
    const m = typeof log.message === 'string' ? /"backend":"[^"]*\/(bench-primary|bench-canary)"/.exec(log.message) : null;
    if (m) backendHits[m[1]!] = (backendHits[m[1]!] ?? 0) + 1;
  };
  const mf = new Miniflare(
    convertV4MiniflareOptions({ workers, handleStructuredLogs } as unknown as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  const dispose = () => mf.dispose();
  onCleanup(dispose);
  await mf.ready;
  for (const spec of specs) {
    if (!spec.snapshot || !spec.wranglerBindings) continue;
    const kv = await mf.getKVNamespace('ROUTES', spec.name);
    // Snapshot first, then the pointer (KV layout in docs/ENGINEERING.md).
    await kv.put(snapshotKey(spec.snapshot.version), JSON.stringify(spec.snapshot));
    await kv.put(
      KV_POINTER_KEY,
      JSON.stringify({ version: spec.snapshot.version, key: snapshotKey(spec.snapshot.version), updatedAt: new Date().toISOString() }),
    );
  }
  return {
    ports,
    inputs,
    describe: `one workerd process via Miniflare v5 (${specs.length} Workers, each on its own direct socket, no Miniflare entry worker)`,
    dispose,
  };
}
