/**
 * The one contract shared by route files, KV snapshots, the admin API, the CLI and the agent: its types only. The zod
 * schemas and helpers (values) are imported from the module that defines them, src/schema/<kind>.ts.
 */
export type * from './schema/duration.js';
export type * from './schema/common.js';
export type * from './schema/httproute.js';
export type * from './schema/backend.js';
export type * from './schema/ratelimitpolicy.js';
export type * from './schema/securitypolicy.js';
export type * from './schema/snapshot.js';
export type * from './schema/references.js';
export type * from './schema/rollout.js';
