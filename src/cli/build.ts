/**
 * `edgeway build`: compiles route files into kv-seed/snapshot.json, the `wrangler kv bulk put` file; with a wrangler
 * environment (`--env staging`), into kv-seed/<env>/snapshot.json, so each environment's seed keeps its own versions.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KV_POINTER_KEY, Snapshot, SnapshotPointer, snapshotKey, toSnapshot, type Resource } from '../schema/snapshot.js';
import { snapshotFromEntries, tableEntries } from '../table/shard.js';
import { compilePaths, type CompileResult } from './compile.js';

export const SEED_FILE = 'snapshot.json';

export interface KvEntry {
  key: string;
  value: string;
}

export interface SeedPlan {
  snapshot: Snapshot;
  pointer: SnapshotPointer;
  /** False when the previous seed already held exactly these resources (its version and createdAt are kept). */
  changed: boolean;
}

const body = (s: Pick<Snapshot, 'routes' | 'backends' | 'policies' | 'securityPolicies'>) =>
  JSON.stringify([s.routes, s.backends, s.policies, ...(s.securityPolicies.length ? [s.securityPolicies] : [])]);

/** Pure: decides version and timestamps so that rebuilding unchanged routes reproduces the same file byte for byte. */
export function planSeed(resources: Resource[], previous: { snapshot?: Snapshot; version?: number } | undefined, now: string): SeedPlan {
  const next = toSnapshot(resources, 1, now);
  if (previous?.snapshot && body(previous.snapshot) === body(next)) {
    const { version, createdAt } = previous.snapshot;
    return {
      snapshot: { ...next, version, createdAt },
      pointer: { version, key: snapshotKey(version), updatedAt: createdAt },
      changed: false,
    };
  }
  const version = (previous?.snapshot?.version ?? previous?.version ?? 0) + 1;
  return { snapshot: { ...next, version }, pointer: { version, key: snapshotKey(version), updatedAt: now }, changed: true };
}

/**
 * Snapshot first, then the pointer: the order KV readers rely on (ENGINEERING.md, KV layout). A table above
 * SHARD_THRESHOLD_BYTES is written sharded (src/table/shard.ts): every shard, then the index, then the pointer.
 */
export const seedEntries = (plan: SeedPlan): KvEntry[] => tableEntries(plan.snapshot, plan.pointer.updatedAt ?? plan.snapshot.createdAt);

/** Reads a previous seed file; anything unreadable counts as "no previous snapshot" (a pointer alone still bumps the version). */
export function parseSeed(text: string): { snapshot?: Snapshot; version?: number } | undefined {
  try {
    const entries = JSON.parse(text) as unknown;
    if (!Array.isArray(entries)) return undefined;
    const get = (key: string) => (entries as KvEntry[]).find((e) => e && e.key === key)?.value;
    const pointerText = get(KV_POINTER_KEY);
    if (typeof pointerText !== 'string') return undefined;
    const pointer = SnapshotPointer.parse(JSON.parse(pointerText));
    const snapText = get(pointer.key);
    // Either form: a whole snapshot, or an index whose shards are in the same file.
    const snapshot = typeof snapText === 'string' ? snapshotFromEntries(JSON.parse(snapText), get) : undefined;
    return snapshot ? { snapshot, version: pointer.version } : { version: pointer.version };
  } catch {
    return undefined;
  }
}

/** Formats JSON the way `prettier --check` expects, so generated files stay lint-clean; plain JSON if prettier is absent. */
export async function formatJson(value: unknown, file: string): Promise<string> {
  const text = JSON.stringify(value, null, 2) + '\n';
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...options, filepath: file });
  } catch {
    return text;
  }
}

/** Writes next to the target and renames, so readers never see half a file. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export interface BuildResult {
  compile: CompileResult;
  /** Absent when validation failed and nothing was written. */
  plan?: SeedPlan;
  file: string;
}

/** Where the seed of an environment goes: `<outDir>/snapshot.json` for production, `<outDir>/<env>/snapshot.json` else. */
export const seedFile = (outDir: string, env?: string): string =>
  env === undefined ? path.join(outDir, SEED_FILE) : path.join(outDir, env, SEED_FILE);

/** The command that loads a seed into an environment's ROUTES namespace. */
export const bulkPutCommand = (file: string, env?: string): string =>
  `npx wrangler kv bulk put ${file} --binding ROUTES${env === undefined ? '' : ` --env ${env}`}`;

export async function build(options: { routes: string[]; outDir: string; env?: string; now?: () => string }): Promise<BuildResult> {
  const file = seedFile(options.outDir, options.env);
  const compile = await compilePaths(options.routes);
  if (compile.errors > 0) return { compile, file };
  let previous: ReturnType<typeof parseSeed>;
  try {
    previous = parseSeed(await readFile(file, 'utf8'));
  } catch {
    previous = undefined;
  }
  const plan = planSeed(compile.resources, previous, (options.now ?? (() => new Date().toISOString()))());
  const text = await formatJson(seedEntries(plan), file);
  let current: string | undefined;
  try {
    current = await readFile(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== text) await writeAtomic(file, text);
  return { compile, plan, file };
}
