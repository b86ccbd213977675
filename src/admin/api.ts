/** Request and response bodies of the admin API, built from the shared zod contract (src/schema). */
import { z } from 'zod';
import { ClusterName, Endpoint } from '../schema/backend.js';
import { Namespace, ObjectName } from '../schema/common.js';
import { Resource } from '../schema/snapshot.js';

export const Problem = z
  .object({
    error: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string(), index: z.number().int().optional() })).optional(),
  })
  .describe('Every error response. `issues` lists every problem found in an invalid body.');

export const PublishBody = z.strictObject({ resources: z.array(Resource).max(10_000) });
export type PublishBody = z.infer<typeof PublishBody>;

export const PublishResult = z.object({
  version: z.number().int(),
  warnings: z.array(z.object({ path: z.string(), message: z.string(), index: z.number().int() })),
});

export const WeightsBody = z.strictObject({
  namespace: Namespace.default('default'),
  route: ObjectName.describe('HTTPRoute name.'),
  rule: z.union([z.string().min(1), z.number().int().min(0)]).describe('Rule name, or its index in spec.rules.'),
  backends: z
    .array(z.strictObject({ name: ObjectName, namespace: Namespace.optional(), weight: z.number().int().min(0).max(1_000_000) }))
    .min(1)
    .max(16)
    .describe('New weights; every named backendRef must already be in the rule. Refs not listed keep their weight.'),
});
export type WeightsBody = z.infer<typeof WeightsBody>;

export const RollbackBody = z.strictObject({
  version: z.number().int().min(1).describe('Version whose published resources are restored.'),
});

export const VersionInfo = z.object({ version: z.number().int(), createdAt: z.string(), reason: z.string() });

export const ReportedEndpoint = Endpoint.omit({ owner: true, stale: true }).extend({
  backend: z.strictObject({ namespace: Namespace, name: ObjectName }).describe('The Backend this endpoint serves.'),
  sourceNamespace: Namespace.optional().describe('Namespace (in the reporting cluster) of the object that claimed the Backend.'),
});
export type ReportedEndpoint = z.infer<typeof ReportedEndpoint>;

export const PushBody = z.strictObject({
  cluster: z.string().min(1).max(128),
  policy: z
    .enum(['sync', 'upsert-only'])
    .describe('sync: the report replaces everything this cluster reported before. upsert-only: never withdraws.'),
  endpoints: z.array(ReportedEndpoint).max(4096),
  agentVersion: z.string().max(64).optional(),
});
export type PushBody = z.infer<typeof PushBody>;

export const HeartbeatBody = z.strictObject({ cluster: z.string().min(1).max(128), agentVersion: z.string().max(64).optional() });

export const REFUSAL_REASONS = [
  'unknown-backend',
  'not-admitted',
  'namespace-not-admitted',
  'static-endpoint',
  'duplicate-url',
  'over-cap',
  'backend-full',
  'cordoned',
] as const;

export const Refusal = z
  .object({
    backend: z.string().describe('namespace/name of the Backend the endpoint was reported for.'),
    url: z.string(),
    reason: z.enum(REFUSAL_REASONS),
  })
  .describe(
    'A reported endpoint that is not served. unknown-backend: no such Backend is published. not-admitted: the Backend does not list this cluster in spec.clusters.allowed. namespace-not-admitted: the cluster is admitted only for other namespaces (or the report has no sourceNamespace). static-endpoint: the URL is one of the static endpoints, which agents never replace. duplicate-url: another cluster already serves this URL here. over-cap: more than spec.clusters.maxEndpointsPerCluster from this cluster. backend-full: the Backend holds 256 endpoints. cordoned: the cluster is cordoned and the endpoint is new.',
  );
export type Refusal = z.infer<typeof Refusal>;

export const PushResult = z.object({
  version: z.number().int(),
  changed: z.boolean(),
  endpoints: z.number().int().describe('Endpoints recorded for this cluster.'),
  accepted: z.number().int().describe('Of those, how many are served.'),
  refused: z.array(Refusal).describe('Every reported endpoint that is not served, with the reason.'),
});

export const ClusterInfo = z.object({
  cluster: z.string(),
  lastHeartbeat: z.string().nullable(),
  stale: z.boolean(),
  endpoints: z.number().int().describe('Endpoints recorded for this cluster.'),
  served: z.number().int().describe('Of those, how many are in the snapshot.'),
  cordoned: z.boolean().describe('Cordoned clusters keep what they hold; new endpoints are refused.'),
  keyConfigured: z
    .boolean()
    .optional()
    .describe('Whether AGENT_KEYS names the cluster. Without a key its endpoints are withdrawn after the stale timeout.'),
  withdrawn: z
    .object({ at: z.string(), reason: z.enum(['operator', 'key-removed']) })
    .optional()
    .describe('When and why its endpoints were last withdrawn.'),
  refused: z.array(Refusal).describe('Recorded endpoints that are not served, with the reason.'),
  unmatchedBackends: z.array(z.string()).describe('Reported backends that no published Backend matches (not served).'),
  agentVersion: z.string().optional(),
});

export const ClusterParam = z.object({
  cluster: ClusterName,
});

export const WithdrawResult = z.object({ version: z.number().int(), cluster: ClusterInfo });
export type ClusterInfo = z.infer<typeof ClusterInfo>;
