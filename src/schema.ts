/** The one contract shared by route files, KV snapshots, the admin API, the CLI and the agent. */
export * from './schema/duration.js';
export * from './schema/common.js';
export * from './schema/httproute.js';
export * from './schema/backend.js';
export * from './schema/ratelimitpolicy.js';
export * from './schema/securitypolicy.js';
export * from './schema/snapshot.js';
export * from './schema/references.js';
