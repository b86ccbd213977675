/** The local gateway: src/index.ts bundled and run in one Miniflare, its KV seeded with a compiled routing table. */
import { randomBytes } from 'node:crypto';
import { rmSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { build as esbuild } from 'esbuild';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { KV_POINTER_KEY, toSnapshot, type Resource } from '../schema/snapshot.js';
import { tableEntries } from '../table/shard.js';
import { resolveOverrideOutbound } from '../dev/outbound.js';
import { COORDINATOR_NAME } from '../admin/env.js';
import { compilePaths, formatDiagnostic, validateObjects, type CompileResult } from './compile.js';

/** Default request.cf so nearest-region steering has something to steer by offline (Ashburn, near us-east-1). */
export const DEV_CF = {
  colo: 'IAD',
  country: 'US',
  continent: 'NA',
  region: 'Virginia',
  regionCode: 'VA',
  city: 'Ashburn',
  latitude: '39.04372',
  longitude: '-77.48749',
  timezone: 'America/New_York',
  asn: 64512,
  httpProtocol: 'HTTP/1.1',
};

export interface DevGatewayOptions {
  /** Route files to compile (errors reject with CompileError). Ignored when `resources` is given. */
  routesDir?: string;
  /** Resource objects to start with instead of files (validated like publish()). */
  resources?: unknown[];
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Extra or overriding string bindings (after wrangler.toml [vars], EDGEWAY_ENV=dev, DEBUG_HEADERS=on and TABLE_REFRESH_SECONDS=0.5). */
  bindings?: Record<string, string>;
  /** With routesDir: recompile on change; bad edits are reported and the last good table keeps serving. */
  watch?: boolean;
  onReload?: (event: ReloadEvent) => void;
  /** Worker entry, default src/index.ts; wrangler config, default wrangler.toml (both relative to the cwd). */
  entry?: string;
  config?: string;
  /** A wrangler environment (`[env.<name>]`): its [vars] and bindings instead of the top level's (production). */
  env?: string;
  cf?: Record<string, unknown>;
}

export type ReloadEvent =
  { ok: true; version: number; changed: boolean; result: CompileResult } | { ok: false; version: number; result: CompileResult };

export type PublishResult = { ok: true; version: number } | { ok: false; version: number; errors: string[] };

export interface DevGateway {
  url: string;
  port: number;
  /** Validates and publishes a new table as version+1; invalid input leaves the current table serving. */
  publish(resources: unknown[]): Promise<PublishResult>;
  /** Version currently pointed to by snapshot:current. */
  version(): number;
  /** Endpoint hostnames the outbound allow-list currently admits (besides loopback). */
  allowedHosts(): string[];
  miniflare: Miniflare;
  dispose(): Promise<void>;
}

export class CompileError extends Error {
  constructor(readonly result: CompileResult) {
    super(`route files have ${result.errors} error(s):\n${result.diagnostics.map(formatDiagnostic).join('\n')}`);
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

interface WranglerBits {
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, string>;
  kvNamespaces: string[];
  durableObjects: Record<string, { className: string; useSQLite?: boolean }>;
}

/**
 * The parts of wrangler.toml the dev gateway mirrors, for one environment (undefined: the top level), resolved by
 * wrangler's own rules; durable objects may not exist yet, and that is fine.
 */
export async function readWranglerConfig(configPath: string, env?: string): Promise<WranglerBits> {
  const { unstable_readConfig } = await import('wrangler');
  const c = unstable_readConfig({ config: configPath, env });
  const sqlite = new Set((c.migrations ?? []).flatMap((m: { new_sqlite_classes?: string[] }) => m.new_sqlite_classes ?? []));
  const durableObjects: WranglerBits['durableObjects'] = {};
  for (const b of c.durable_objects?.bindings ?? []) {
    if (b.script_name) continue; // lives in another Worker: not available locally
    durableObjects[b.name] = { className: b.class_name, useSQLite: sqlite.has(b.class_name) };
  }
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.vars ?? {})) vars[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return {
    compatibilityDate: c.compatibility_date ?? '2026-10-01',
    compatibilityFlags: c.compatibility_flags ?? [],
    vars,
    kvNamespaces: [...new Set(['ROUTES', ...(c.kv_namespaces ?? []).map((k: { binding: string }) => k.binding)])],
    durableObjects,
  };
}

/** Bundles the Worker the way wrangler would for workerd, into a per-instance directory under .wrangler/. */
export async function bundleWorker(entry: string): Promise<{ dir: string; scriptPath: string }> {
  const dir = path.join('.wrangler', 'edgeway-dev', `${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  const scriptPath = path.join(dir, 'worker.mjs');
  await esbuild({
    entryPoints: [entry],
    outfile: scriptPath,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['workerd', 'worker', 'browser', 'module', 'main'],
    external: ['cloudflare:*', 'node:*'],
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  return { dir, scriptPath };
}

const endpointHosts = (resources: Resource[]) =>
  resources.flatMap((r) =>
    r.kind === 'Backend'
      ? r.spec.endpoints.flatMap((e) => {
          try {
            return [new URL(e.url).hostname.toLowerCase()];
          } catch {
            return [];
          }
        })
      : [],
  );

const tableBody = (resources: Resource[]) => {
  const s = toSnapshot(resources, 1, '');
  return JSON.stringify([s.routes, s.backends, s.policies, s.securityPolicies]);
};

/**
 * Publishes as an operator would (`PUT /resources` with `If-Match: *`), by RPC to the CoordinatorDO, and waits
 * until its flush has moved the KV pointer to that version (at most one flush a second).
 */
async function publishThroughCoordinator(
  miniflare: Miniflare,
  kv: { get(key: string): Promise<string | null> },
  resources: Resource[],
): Promise<number> {
  const ns = await miniflare.getDurableObjectNamespace('COORDINATOR');
  const stub = ns.get(ns.idFromName(COORDINATOR_NAME)) as unknown as {
    publish(resources: unknown[], ifMatch: string): Promise<{ ok: true; value: { version: number } } | { ok: false; error?: string }>;
  };
  const out = await stub.publish(resources, '*');
  if (!out.ok) throw new Error(`the coordinator refused the routes: ${out.error ?? JSON.stringify(out)}`);
  const target = out.value.version;
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    const pointer = JSON.parse((await kv.get(KV_POINTER_KEY)) ?? '{}') as { version?: number };
    if ((pointer.version ?? 0) >= target) return target;
  }
  throw new Error(`the coordinator did not write table v${target} to KV within 15 s`);
}

export async function startDevGateway(options: DevGatewayOptions): Promise<DevGateway> {
  let initial: Resource[];
  if (options.resources) {
    const v = validateObjects(options.resources);
    if (v.errors.length) throw new Error(`invalid resources:\n${v.errors.join('\n')}`);
    initial = v.resources;
  } else {
    const result = await compilePaths([options.routesDir ?? 'routes']);
    if (result.errors) throw new CompileError(result);
    initial = result.resources;
  }

  const wrangler = await readWranglerConfig(options.config ?? 'wrangler.toml', options.env);
  const bundle = await bundleWorker(options.entry ?? 'src/index.ts');
  let allowed = new Set(endpointHosts(initial));
  const host = options.host ?? '127.0.0.1';
  const miniflareOptions = (listenHost: string, port: number) =>
    convertV4MiniflareOptions({
      modules: true,
      scriptPath: bundle.scriptPath,
      compatibilityDate: wrangler.compatibilityDate,
      compatibilityFlags: wrangler.compatibilityFlags,
      kvNamespaces: wrangler.kvNamespaces,
      durableObjects: wrangler.durableObjects,
      bindings: { ...wrangler.vars, EDGEWAY_ENV: 'dev', DEBUG_HEADERS: 'on', TABLE_REFRESH_SECONDS: '0.5', ...options.bindings },
      host: listenHost,
      port,
      cf: options.cf ?? DEV_CF,
      outboundService: resolveOverrideOutbound({ allowHost: (h) => LOOPBACK.has(h) || allowed.has(h) }),
    });
  // A known port must not answer before the table is in KV (a request there would get 503 table_unavailable):
  // start on a private ephemeral loopback port, seed KV, then move to the requested port. Storage survives the move.
  const movePort = options.port !== 0;
  let miniflare: Miniflare;
  try {
    miniflare = new Miniflare(movePort ? miniflareOptions('127.0.0.1', 0) : miniflareOptions(host, 0));
  } catch (e) {
    await rm(bundle.dir, { recursive: true, force: true });
    throw e;
  }

  let disposed = false;
  let watcher: FSWatcher | undefined;
  // miniflare's own Ctrl-C handler exits the process before our async dispose runs; exit handlers still do.
  const removeBundle = () => rmSync(bundle.dir, { recursive: true, force: true });
  process.on('exit', removeBundle);
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    watcher?.close();
    await miniflare.dispose().catch(() => undefined);
    await rm(bundle.dir, { recursive: true, force: true });
    // Only now: a Ctrl-C may exit the process while the awaits above are pending.
    process.off('exit', removeBundle);
  };

  let version = 0;
  let current: Resource[] = [];
  // With the admin API's single writer bound (wrangler.toml COORDINATOR), route files are published through it, so
  // versions, GET /snapshot, If-Match, weights and rollback agree with what the gateway serves.
  const coordinated = 'COORDINATOR' in wrangler.durableObjects;
  // One publish at a time, so versions and the pointer only move forward.
  let queue: Promise<unknown> = Promise.resolve();
  const write = (resources: Resource[]) => {
    const next = queue.then(async () => {
      const kv = await miniflare.getKVNamespace('ROUTES');
      // Admit the new endpoints before the Worker can see the table that names them.
      allowed = new Set([...allowed, ...endpointHosts(resources)]);
      const v = coordinated ? await publishThroughCoordinator(miniflare, kv, resources) : version + 1;
      if (!coordinated) {
        const createdAt = new Date().toISOString();
        // The writers' one layout: a whole snapshot, or shards then index for a big table; the pointer last.
        for (const e of tableEntries(toSnapshot(resources, v, createdAt), createdAt)) await kv.put(e.key, e.value);
      }
      allowed = new Set(endpointHosts(resources));
      version = v;
      current = resources;
      return v;
    });
    queue = next.catch(() => undefined);
    return next;
  };

  let url: URL;
  try {
    url = await miniflare.ready;
    await write(initial);
    const seededAt = Date.now();
    if (movePort) {
      await miniflare.setOptions(miniflareOptions(host, options.port));
      url = await miniflare.ready;
    }
    // The coordinator flushes at most once a second (FLUSH_INTERVAL_MS, src/admin/durable-object.ts): let that second
    // pass, so an operator's first publish right after start reaches KV at once rather than a second later.
    if (coordinated) await new Promise((r) => setTimeout(r, Math.max(0, seededAt + 1000 - Date.now())));
  } catch (e) {
    await dispose();
    throw e;
  }

  if (options.watch && options.routesDir && !options.resources) {
    const dir = options.routesDir;
    let timer: NodeJS.Timeout | undefined;
    let reloading: Promise<void> = Promise.resolve();
    const reload = async () => {
      const result = await compilePaths([dir]);
      if (disposed) return;
      if (result.errors) return options.onReload?.({ ok: false, version, result });
      const changed = tableBody(result.resources) !== tableBody(current);
      if (changed) await write(result.resources);
      options.onReload?.({ ok: true, version, changed, result });
    };
    watcher = watch(dir, { recursive: true }, () => {
      clearTimeout(timer);
      // Editors write in several steps (truncate, write, rename): settle before reading.
      timer = setTimeout(() => {
        reloading = reloading.then(reload).catch((e: unknown) => console.error(`edgeway dev: reload failed: ${(e as Error).message}`));
      }, 150);
    });
  }

  return {
    url: url.toString(),
    port: Number(url.port),
    miniflare,
    version: () => version,
    allowedHosts: () => [...allowed].sort(),
    async publish(resources) {
      const v = validateObjects(resources);
      if (v.errors.length) return { ok: false, version, errors: v.errors };
      return { ok: true, version: await write(v.resources) };
    },
    dispose,
  };
}
