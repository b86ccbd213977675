/** The routing table as stored in KV: an immutable versioned snapshot plus a small pointer key. */
import { z } from 'zod';
import { Backend } from './backend.js';
import { HTTPRoute } from './httproute.js';
import { RateLimitPolicy } from './ratelimitpolicy.js';
import { Rollout } from './rollout.js';
import { SecurityPolicy } from './securitypolicy.js';

// Rollouts are published with the rest but are not part of the snapshot: only the coordinator and RolloutDO read them.
export const Resource = z.discriminatedUnion('kind', [HTTPRoute, Backend, RateLimitPolicy, SecurityPolicy, Rollout]);
export type Resource = z.infer<typeof Resource>;
export const RESOURCE_KINDS = ['HTTPRoute', 'Backend', 'RateLimitPolicy', 'SecurityPolicy', 'Rollout'] as const;

export const Snapshot = z.strictObject({
  version: z.number().int().min(1),
  createdAt: z.iso.datetime({ offset: true }),
  routes: z.array(HTTPRoute).default([]),
  backends: z.array(Backend).default([]),
  policies: z.array(RateLimitPolicy).default([]),
  securityPolicies: z.array(SecurityPolicy).default([]),
});
export type Snapshot = z.infer<typeof Snapshot>;
export type SnapshotInput = z.input<typeof Snapshot>;

export const SnapshotPointer = z.strictObject({
  version: z.number().int().min(1),
  key: z.string().min(1),
  updatedAt: z.iso.datetime({ offset: true }).optional(),
});
export type SnapshotPointer = z.infer<typeof SnapshotPointer>;

/**
 * Where each entry of a sharded table came from in the unsharded snapshot (index into its routes / backends), so the
 * snapshot can be reassembled exactly (`edgeway build` compares it with the next one). A route or Backend can sit in
 * several places (a route in the index and in a shard, a Backend in every shard whose routes use it).
 */
const Positions = z.strictObject({
  routes: z.array(z.number().int().min(0)),
  backends: z.array(z.number().int().min(0)),
});

/**
 * A big table's index (`snapshot:vN:index`, named by the pointer): everything that is not per exact hostname, loaded
 * with the pointer. Routes with a wildcard hostname or none (they compete for every host), the Backends they use,
 * unreferenced Backends and every policy. Routes with exact hostnames live in the shards named by `sharding.keys`,
 * shard number = fnv1a32(hostname) % count (src/table/shard.ts).
 */
export const TableIndex = z.strictObject({
  version: z.number().int().min(1),
  createdAt: z.iso.datetime({ offset: true }),
  sharding: z.strictObject({
    hash: z.literal('fnv1a32'),
    count: z.number().int().min(1).max(65536),
    keys: z.array(z.string().min(1)),
    /** Route and Backend counts of the unsharded snapshot. */
    total: z.strictObject({ routes: z.number().int().min(0), backends: z.number().int().min(0) }),
  }).refine((s) => s.keys.length === s.count, { message: 'must list one key per shard (count)', path: ['keys'] }),
  routes: z.array(HTTPRoute).default([]),
  backends: z.array(Backend).default([]),
  policies: z.array(RateLimitPolicy).default([]),
  securityPolicies: z.array(SecurityPolicy).default([]),
  positions: Positions,
}).refine((i) => i.positions.routes.length === i.routes.length && i.positions.backends.length === i.backends.length, {
  message: 'must give one position per route and per Backend',
  path: ['positions'],
});
export type TableIndex = z.infer<typeof TableIndex>;

/** One shard (`snapshot:vN:shard:K`): the routes with an exact hostname hashing to K and the Backends they use. */
export const TableShard = z.strictObject({
  version: z.number().int().min(1),
  shard: z.number().int().min(0),
  routes: z.array(HTTPRoute).default([]),
  backends: z.array(Backend).default([]),
  positions: Positions,
});
export type TableShard = z.infer<typeof TableShard>;

/** KV layout. Snapshots are written before the pointer so no reader ever misses (KV caches misses). */
export const KV_POINTER_KEY = 'snapshot:current';
export const snapshotKey = (version: number) => `snapshot:v${version}`;
/** Sharded form (big tables): the pointer names the index, the index names its shards. */
export const snapshotIndexKey = (version: number) => `snapshot:v${version}:index`;
export const snapshotShardKey = (version: number, shard: number) => `snapshot:v${version}:shard:${shard}`;

/** Groups parsed resources into a snapshot body. */
export function toSnapshot(resources: Resource[], version: number, createdAt: string): Snapshot {
  return {
    version,
    createdAt,
    routes: resources.filter((r) => r.kind === 'HTTPRoute'),
    backends: resources.filter((r) => r.kind === 'Backend'),
    policies: resources.filter((r) => r.kind === 'RateLimitPolicy'),
    securityPolicies: resources.filter((r) => r.kind === 'SecurityPolicy'),
  };
}
