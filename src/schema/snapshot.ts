/** The routing table as stored in KV: an immutable versioned snapshot plus a small pointer key. */
import { z } from 'zod';
import { Backend } from './backend.js';
import { HTTPRoute } from './httproute.js';
import { RateLimitPolicy } from './ratelimitpolicy.js';
import { SecurityPolicy } from './securitypolicy.js';

export const Resource = z.discriminatedUnion('kind', [HTTPRoute, Backend, RateLimitPolicy, SecurityPolicy]);
export type Resource = z.infer<typeof Resource>;
export const RESOURCE_KINDS = ['HTTPRoute', 'Backend', 'RateLimitPolicy', 'SecurityPolicy'] as const;

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

/** KV layout. Snapshots are written before the pointer so no reader ever misses (KV caches misses). */
export const KV_POINTER_KEY = 'snapshot:current';
export const snapshotKey = (version: number) => `snapshot:v${version}`;

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
