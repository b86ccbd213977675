/** The Edgeway Backend (edgeway.dev/v1alpha1): one logical service reachable through endpoints in several clusters. */
import { z } from 'zod';
import { Duration, parseDuration } from './duration.js';
import { Hostname, Metadata, Namespace, ObjectName, Percent } from './common.js';

export const EndpointURL = z
  .string()
  .max(2048)
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute URL such as https://ingress.eu1.example.com' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      ctx.addIssue({ code: 'custom', message: 'scheme must be http or https' });
    if (url.pathname !== '/' || url.search || url.hash || url.username || url.password)
      ctx.addIssue({ code: 'custom', message: 'must be scheme://host[:port] with no path, query or credentials' });
  });

export const Endpoint = z.strictObject({
  url: EndpointURL.describe('scheme://host[:port] of the cluster ingress. Production Workers cannot fetch bare IPs.'),
  cluster: z.string().min(1).max(128),
  cloud: z.string().min(1).max(64).optional(),
  region: z.string().min(1).max(64).optional().describe('Cloud region code, e.g. us-east-1 or europe-west1: nearest-region steering.'),
  priority: z.number().int().min(0).max(16).default(0).describe('0 is the primary tier; higher tiers take spill-over.'),
  weight: z.number().int().min(0).max(1_000_000).default(1),
  hostHeader: Hostname.optional().describe('Host sent upstream instead of the client Host.'),
  readyEndpoints: z.number().int().min(0).optional().describe('Ready pods behind this endpoint, reported by the agent; 0 = unhealthy.'),
  owner: z.string().min(1).max(128).optional().describe('Cluster whose agent reported this endpoint (set by the coordinator).'),
  stale: z.boolean().optional().describe('Set by the coordinator when the owning agent stopped heartbeating.'),
});

const DurationAtLeast = (minMs: number, label: string) =>
  Duration.refine((d) => parseDuration(d) >= minMs, `must be at least ${label}`);

export const ActiveHealthCheck = z
  .strictObject({
    path: z.string().startsWith('/').default('/healthz'),
    interval: DurationAtLeast(1000, '1s').default('5s'),
    timeout: DurationAtLeast(1, '1ms').default('1s'),
    expectedStatuses: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
    healthyThreshold: z.number().int().min(1).max(100).default(2),
    unhealthyThreshold: z.number().int().min(1).max(100).default(3),
    hostHeader: Hostname.optional(),
  })
  .superRefine((a, ctx) => {
    if (parseDuration(a.timeout) >= parseDuration(a.interval))
      ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be shorter than interval' });
  });

export const PassiveHealthCheck = z
  .strictObject({
    consecutiveFailures: z.number().int().min(1).max(1000).default(5),
    baseEjectionTime: DurationAtLeast(1, '1ms').default('30s'),
    maxEjectionTime: DurationAtLeast(1, '1ms').default('300s'),
    maxEjectionPercent: Percent.default(50),
  })
  .superRefine((p, ctx) => {
    if (parseDuration(p.maxEjectionTime) < parseDuration(p.baseEjectionTime))
      ctx.addIssue({ code: 'custom', path: ['maxEjectionTime'], message: 'must not be shorter than baseEjectionTime' });
  });

/**
 * Envoy's circuit breakers, per endpoint and per isolate (as each Envoy enforces its own). No max_pending_requests:
 * a Worker has no connection pool to wait for, so a request over the limit goes to another endpoint or gets a 503
 * at once rather than waiting in a queue; no max_retries: the per-isolate retry budget already bounds retries.
 */
export const CircuitBreaker = z.strictObject({
  maxRequests: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(1024)
    .describe(
      'Requests in flight to one endpoint from one isolate (Envoy max_requests), counted until the response headers arrive. Over it the request goes to another usable endpoint, else 503 overloaded with Retry-After.',
    ),
  maxRetryAfter: Duration.default('60s').describe(
    'Longest pause a 503 or 429 with Retry-After from an endpoint imposes on it (the endpoint takes no traffic meanwhile). "0s" ignores Retry-After.',
  ),
});

/** Endpoints a Backend can hold in all, static and reported together. */
export const MAX_BACKEND_ENDPOINTS = 256;
export const DEFAULT_MAX_ENDPOINTS_PER_CLUSTER = 16;

/** Kubernetes cluster id, as the agent's EDGEWAY_CLUSTER and the AGENT_KEYS entries name it. */
export const ClusterName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[a-z0-9]([-a-z0-9._]{0,126}[a-z0-9])?$/, 'must be a lowercase cluster id (a-z, 0-9, "-", ".", "_")');

/**
 * Which clusters' agents may report endpoints into a Backend, in the spirit of Gateway API's ReferenceGrant: the
 * Backend (the target) consents. Omitted: no cluster is admitted and only the static endpoints serve.
 */
export const BackendClusters = z
  .strictObject({
    allowed: z
      .array(
        z.strictObject({
          name: ClusterName.describe('Cluster whose agent may report endpoints for this Backend.'),
          namespaces: z
            .array(Namespace)
            .min(1)
            .max(64)
            .optional()
            .describe('Only endpoints derived from objects in these namespaces of that cluster. Omitted: any namespace.'),
        }),
      )
      .max(64)
      .default([])
      .describe('Clusters admitted. Reports from any other cluster change nothing and are listed as refused.'),
    maxEndpointsPerCluster: z
      .number()
      .int()
      .min(1)
      .max(MAX_BACKEND_ENDPOINTS)
      .default(DEFAULT_MAX_ENDPOINTS_PER_CLUSTER)
      .describe('Reported endpoints kept per cluster (each cluster has its own quota; the rest are refused as over-cap).'),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.allowed.forEach((a, i) => {
      if (seen.has(a.name)) ctx.addIssue({ code: 'custom', path: ['allowed', i, 'name'], message: `cluster "${a.name}" is listed twice` });
      seen.add(a.name);
    });
  });

export const Backend = z.strictObject({
  apiVersion: z.literal('edgeway.dev/v1alpha1'),
  kind: z.literal('Backend'),
  metadata: Metadata,
  spec: z.strictObject({
    endpoints: z
      .array(Endpoint)
      .max(MAX_BACKEND_ENDPOINTS)
      .default([])
      .describe('Static endpoints (the operator\'s). Agent reports never replace or re-weight them.'),
    clusters: BackendClusters.optional().describe('Clusters whose agents may add endpoints to this Backend. Default: none.'),
    healthCheck: z.strictObject({ active: ActiveHealthCheck.optional(), passive: PassiveHealthCheck.optional() }).optional(),
    failover: z
      .strictObject({
        overprovisioningFactor: z.number().min(1).max(10).default(1.4),
        fallbackBackend: ObjectName.optional().describe('Backend (same namespace) used when nothing here is healthy.'),
        panicThreshold: Percent.default(50).describe(
          'Percent (Envoy healthy_panic_threshold): below this share of healthy weight in every tier, and in the fallback, health is ignored for endpoints that still accept connections. 0 disables.',
        ),
      })
      .optional(),
    circuitBreaker: CircuitBreaker.optional().describe(
      'Load shedding per endpoint: concurrency limit and upstream Retry-After. Default: 1024 in flight, Retry-After honoured up to 60s.',
    ),
  }),
});

export type Backend = z.infer<typeof Backend>;
export type Endpoint = z.infer<typeof Endpoint>;
export type BackendClusters = z.infer<typeof BackendClusters>;
export type ActiveHealthCheck = z.infer<typeof ActiveHealthCheck>;
export type PassiveHealthCheck = z.infer<typeof PassiveHealthCheck>;
export type CircuitBreaker = z.infer<typeof CircuitBreaker>;
