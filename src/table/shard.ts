/**
 * Sharded table layout (pure): splits a big snapshot into an index and per-hostname-hash shards, joins them back, and
 * lists the KV entries every writer puts (shards, then index, then pointer). Small tables keep the single-key form.
 */
import type { Backend, HTTPRoute, Snapshot } from '../schema.js';
import { objectKey, refKey, resourceKey } from '../schema/keys.js';
import { isEdgewayBackendRef } from '../schema/references.js';
import {
  KV_POINTER_KEY,
  Snapshot as SnapshotSchema,
  snapshotIndexKey,
  snapshotKey,
  snapshotShardKey,
  TableIndex,
  TableShard,
  type SnapshotPointer,
} from '../schema/snapshot.js';
import type { KvEntry } from '../table.js';

/**
 * A snapshot whose JSON is larger than this (two shards' worth, ~600-800 routes) is written sharded. bench/scale.ts:
 * a cold isolate spends ~100 ms of gateway work per 1k routes of a whole snapshot (parse, validate, compile with a cold
 * JIT), against ~20 ms for an index plus one shard; a 10-route table stays one key.
 */
export const SHARD_THRESHOLD_BYTES = 256 * 1024;
/** Aimed-at size of one shard's routes: one shard is what a cold isolate loads for its first request. */
export const SHARD_TARGET_BYTES = 128 * 1024;

export interface ShardOptions {
  thresholdBytes?: number;
  targetBytes?: number;
}

/** FNV-1a, 32 bits, over the UTF-16 code units (hostnames are ASCII): cheap, stable, no dependency. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The shard holding a hostname's exact-host routes. `host` as the matcher sees it: lowercase, no port, no final dot. */
export const shardOf = (host: string, count: number): number => fnv1a32(host) % count;

/** A route that competes for hosts outside its own shard: it lists no hostname or a wildcard. Those go in the index. */
export const isGlobalRoute = (route: HTTPRoute): boolean => {
  const hosts = route.spec.hostnames;
  return !hosts || hosts.length === 0 || hosts.some((h) => h.startsWith('*.'));
};

const exactHosts = (route: HTTPRoute): string[] => (route.spec.hostnames ?? []).filter((h) => !h.startsWith('*.'));

/** "namespace/name" of every Edgeway Backend a route can send to or mirror to. */
function backendRefsOf(route: HTTPRoute): string[] {
  const ns = route.metadata.namespace;
  const out: string[] = [];
  const mirrors = (filters: HTTPRoute['spec']['rules'][number]['filters']) => {
    for (const f of filters ?? [])
      if (f.type === 'RequestMirror' && isEdgewayBackendRef(f.requestMirror.backendRef)) out.push(refKey(f.requestMirror.backendRef, ns));
  };
  for (const rule of route.spec.rules) {
    mirrors(rule.filters);
    for (const ref of rule.backendRefs ?? []) {
      if (isEdgewayBackendRef(ref)) out.push(refKey(ref, ns));
      mirrors(ref.filters);
    }
  }
  return out;
}

/** Whether a snapshot is big enough to be written sharded. */
export const shouldShard = (snapshot: Snapshot, opts: ShardOptions = {}): boolean =>
  JSON.stringify(snapshot).length > (opts.thresholdBytes ?? SHARD_THRESHOLD_BYTES);

export interface ShardedSnapshot {
  index: TableIndex;
  shards: TableShard[];
}

/**
 * Splits a snapshot. A route with exact hostnames goes to the shard of each of them (several shards if they hash
 * apart); a route with a wildcard or no hostname goes to the index (and, if it also lists exact hostnames, to their
 * shards too: the exact-host lookup of a shard must see every route listing that host). Each shard carries the
 * Backends its routes use (with their fallbacks); the index carries those its routes use and every Backend no shard
 * carries. Relative order is kept everywhere, so tie-breaks by input order survive the split.
 */
export function splitSnapshot(snapshot: Snapshot, opts: ShardOptions = {}): ShardedSnapshot {
  const { version, createdAt, routes, backends } = snapshot;
  let exactBytes = 0;
  for (const r of routes) if (exactHosts(r).length > 0) exactBytes += JSON.stringify(r).length;
  const count = Math.max(1, Math.ceil(exactBytes / (opts.targetBytes ?? SHARD_TARGET_BYTES)));

  const backendAt = new Map<string, number>();
  backends.forEach((b, i) => {
    if (!backendAt.has(resourceKey(b))) backendAt.set(resourceKey(b), i);
  });
  /** Backend positions reachable from a set of routes, fallbacks followed. */
  const closure = (routeIdx: readonly number[]): number[] => {
    const seen = new Set<number>();
    const stack: number[] = [];
    const add = (key: string) => {
      const at = backendAt.get(key);
      if (at === undefined || seen.has(at)) return;
      seen.add(at);
      stack.push(at);
    };
    for (const i of routeIdx) for (const k of backendRefsOf(routes[i]!)) add(k);
    while (stack.length) {
      const b: Backend = backends[stack.pop()!]!;
      const fb = b.spec.failover?.fallbackBackend;
      if (fb) add(objectKey(b.metadata.namespace, fb));
    }
    return [...seen].sort((a, b) => a - b);
  };

  const indexRoutes: number[] = [];
  const shardRoutes: number[][] = Array.from({ length: count }, () => []);
  routes.forEach((route, i) => {
    if (isGlobalRoute(route)) indexRoutes.push(i);
    const ks = new Set(exactHosts(route).map((h) => shardOf(h, count)));
    for (const k of ks) shardRoutes[k]!.push(i);
  });
  const shardBackends = shardRoutes.map(closure);
  const inShard = new Set(shardBackends.flat());
  const indexSet = new Set(closure(indexRoutes));
  for (const i of backends.keys()) if (!inShard.has(i)) indexSet.add(i);
  const indexBackends = [...indexSet].sort((a, b) => a - b);

  const keys = shardRoutes.map((_, k) => snapshotShardKey(version, k));
  return {
    index: {
      version,
      createdAt,
      sharding: { hash: 'fnv1a32', count, keys, total: { routes: routes.length, backends: backends.length } },
      routes: indexRoutes.map((i) => routes[i]!),
      backends: indexBackends.map((i) => backends[i]!),
      policies: snapshot.policies,
      securityPolicies: snapshot.securityPolicies,
      positions: { routes: indexRoutes, backends: indexBackends },
    },
    shards: shardRoutes.map((rs, k) => ({
      version,
      shard: k,
      routes: rs.map((i) => routes[i]!),
      backends: shardBackends[k]!.map((i) => backends[i]!),
      positions: { routes: rs, backends: shardBackends[k]! },
    })),
  };
}

/** The unsharded snapshot back from its index and every shard (exact inverse of `splitSnapshot`). */
export function joinShards(index: TableIndex, shards: readonly TableShard[]): Snapshot {
  const routes = new Array<HTTPRoute | undefined>(index.sharding.total.routes);
  const backends = new Array<Backend | undefined>(index.sharding.total.backends);
  for (const part of [index, ...shards]) {
    part.positions.routes.forEach((at, i) => (routes[at] ??= part.routes[i]));
    part.positions.backends.forEach((at, i) => (backends[at] ??= part.backends[i]));
  }
  const missing = routes.findIndex((r) => r === undefined) + 1 || backends.findIndex((b) => b === undefined) + 1;
  if (missing || shards.length !== index.sharding.count) throw new Error(`sharded snapshot v${index.version} is incomplete`);
  return {
    version: index.version,
    createdAt: index.createdAt,
    routes: routes as HTTPRoute[],
    backends: backends as Backend[],
    policies: index.policies,
    securityPolicies: index.securityPolicies,
  };
}

/**
 * Every KV write of one table version, in the order to write them: the immutable snapshot (or its shards, then its
 * index), then the pointer. Shard and index keys are new per version, so only the pointer is ever rewritten.
 */
export function tableEntries(snapshot: Snapshot, updatedAt: string, opts: ShardOptions = {}): KvEntry[] {
  const { version } = snapshot;
  if (!shouldShard(snapshot, opts)) {
    const pointer: SnapshotPointer = { version, key: snapshotKey(version), updatedAt };
    return [
      { key: pointer.key, value: JSON.stringify(snapshot) },
      { key: KV_POINTER_KEY, value: JSON.stringify(pointer) },
    ];
  }
  const { index, shards } = splitSnapshot(snapshot, opts);
  const pointer: SnapshotPointer = { version, key: snapshotIndexKey(version), updatedAt };
  return [
    ...shards.map((s, k) => ({ key: index.sharding.keys[k]!, value: JSON.stringify(s) })),
    { key: pointer.key, value: JSON.stringify(index) },
    { key: KV_POINTER_KEY, value: JSON.stringify(pointer) },
  ];
}

/**
 * The snapshot a set of written entries holds (a kv-seed file, a test's KV): `root` is the parsed value the pointer
 * names, `get` finds the other keys. Undefined when it is neither form or a shard is missing or invalid.
 */
export function snapshotFromEntries(root: unknown, get: (key: string) => string | undefined): Snapshot | undefined {
  const whole = SnapshotSchema.safeParse(root);
  if (whole.success) return whole.data;
  const index = TableIndex.safeParse(root);
  if (!index.success) return undefined;
  const shards: TableShard[] = [];
  for (const key of index.data.sharding.keys) {
    const text = get(key);
    const shard = text === undefined ? undefined : TableShard.safeParse(JSON.parse(text));
    if (!shard?.success) return undefined;
    shards.push(shard.data);
  }
  try {
    return joinShards(index.data, shards);
  } catch {
    return undefined;
  }
}
