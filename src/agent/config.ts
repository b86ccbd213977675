/** Agent configuration from environment variables (the Helm chart sets them), validated with clear messages. */
import { z } from 'zod';
import { KEY_ID } from '../admin/signing.js';
import { Namespace, ObjectName } from '../schema/common.js';
import { SOURCE_KINDS, type CrossNamespaceGrant } from './desired.js';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

const HostnameMap = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    // "10.0.0.5=use1-origin.example.com,10.0.0.6=..." or a JSON object: bare IPs are not fetchable from Workers.
    const out: Record<string, string> = {};
    const text = raw.trim();
    if (!text) return out;
    if (text.startsWith('{')) {
      try {
        for (const [k, v] of Object.entries(JSON.parse(text) as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
      }
      return out;
    }
    for (const pair of text.split(',')) {
      const [ip, host] = pair.split('=').map((s) => s.trim());
      if (!ip || !host) ctx.addIssue({ code: 'custom', message: `"${pair}" is not ip=hostname` });
      else out[ip] = host;
    }
    return out;
  });

// An unset variable and an empty one (a chart value left at "") both mean "not set"; anything else must match `re`.
const optional = (re: RegExp, message: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return undefined;
      if (!re.test(v)) ctx.addIssue({ code: 'custom', message });
      return v;
    });

// The edge compares the audience byte for byte and it travels in a header: printable ASCII, no edge spaces, bounded.
const AUDIENCE = /^[!-~](?:[ -~]{0,126}[!-~])?$/;

// "a,b" or a JSON array (the Helm chart passes toJson).
const list = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const t = s.trim();
    if (t.startsWith('[')) {
      try {
        const v: unknown = JSON.parse(t);
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
      } catch {
        /* reported below */
      }
      ctx.addIssue({ code: 'custom', message: 'is not a JSON array of strings' });
      return [];
    }
    return t
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  });

const Grant = z.strictObject({
  from: z.array(Namespace).min(1).max(1000).describe('Namespaces whose objects may claim Backends in `to`.'),
  to: Namespace.describe('Namespace of the Backends they may claim.'),
  names: z.array(ObjectName).min(1).max(1000).optional().describe('Only these Backends of `to` (default: all).'),
  kinds: z.array(z.enum(SOURCE_KINDS)).min(1).optional().describe('Only objects of these kinds (default: all).'),
});

// A JSON array of grants (the Helm chart passes `crossNamespaceGrants | toJson`); empty = same-namespace claims only.
const Grants = z
  .string()
  .default('')
  .transform((raw, ctx): CrossNamespaceGrant[] => {
    const text = raw.trim();
    if (!text) return [];
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not valid JSON (a JSON array of {from, to, names?, kinds?})' });
      return [];
    }
    const r = z.array(Grant).max(1000).safeParse(value);
    if (!r.success) {
      for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: `[${i.path.join('.')}]: ${i.message}` });
      return [];
    }
    return r.data;
  });

export const AgentConfigSchema = z.object({
  EDGEWAY_CLUSTER: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9._]{0,126}[a-z0-9])?$/, 'must be a lowercase cluster id (immutable: it owns the endpoints)'),
  EDGEWAY_CLOUD: z.string().max(64).optional(),
  EDGEWAY_REGION: z.string().max(64).optional(),
  EDGEWAY_EDGE_URL: z.url().describe('Base URL of the edge, e.g. https://api.example.com'),
  EDGEWAY_AGENT_KEY: z.string().min(16, 'must be at least 16 characters (the cluster entry of the AGENT_KEYS Worker secret)'),
  EDGEWAY_AGENT_KEY_ID: optional(
    KEY_ID,
    'must be a key id of AGENT_KEYS: 1-64 of a-z, 0-9, ".", "_", "-", starting and ending with a letter or digit',
  ).describe('Id of the key in the cluster\'s AGENT_KEYS entry, signed as keyid "<cluster>/<key id>". Unset: keyid "<cluster>".'),
  EDGEWAY_AUDIENCE: optional(
    AUDIENCE,
    "must be 1-128 printable ASCII characters without leading or trailing spaces (the edge's EDGEWAY_AUDIENCE)",
  ).describe("The edge's EDGEWAY_AUDIENCE when it sets one (signed as `tag`); must match it exactly."),
  EDGEWAY_POLICY: z.enum(['sync', 'upsert-only']).default('sync'),
  EDGEWAY_INGRESS_CLASSES: list.describe(
    'Only Ingresses of these classes (spec.ingressClassName or kubernetes.io/ingress.class) are considered; empty = none.',
  ),
  EDGEWAY_GATEWAY_CLASSES: list.describe('Only Gateways of these GatewayClasses are considered; empty = none.'),
  EDGEWAY_CLAIM_UNANNOTATED_INGRESSES: z
    .enum(['true', 'false'])
    .default('false')
    .describe('An Ingress of a watched class without edgeway.dev/backend claims <its namespace>/<its name>.'),
  EDGEWAY_CROSS_NAMESPACE_GRANTS: Grants,
  EDGEWAY_HOSTNAME_MAP: HostnameMap,
  EDGEWAY_SCHEME: z.enum(['http', 'https']).default('https'),
  EDGEWAY_WATCH_SERVICES: z.enum(['true', 'false']).default('true'),
  EDGEWAY_WATCH_GATEWAY_API: z.enum(['true', 'false']).default('true'),
  EDGEWAY_DEBOUNCE_MS: int(200, 0, 60_000),
  EDGEWAY_RESYNC_SECONDS: int(180, 1, 86_400),
  EDGEWAY_HEARTBEAT_SECONDS: int(30, 1, 3600),
  EDGEWAY_STALL_SECONDS: int(120, 1, 86_400),
  EDGEWAY_BACKOFF_BASE_MS: int(1000, 1, 60_000),
  EDGEWAY_BACKOFF_MAX_MS: int(30_000, 1, 600_000),
  EDGEWAY_MAX_SOFT_ERRORS: int(0, 0, 1_000_000).describe('Consecutive soft errors before exiting; 0 = never.'),
  EDGEWAY_HTTP_PORT: int(8080, 0, 65_535),
  EDGEWAY_LEADER_ELECT: z.enum(['true', 'false']).default('true'),
  EDGEWAY_LEASE_NAME: z.string().default('edgeway-agent'),
  EDGEWAY_LEASE_SECONDS: int(15, 2, 600),
  POD_NAMESPACE: z.string().default('default'),
  POD_NAME: z.string().optional(),
});

export interface AgentConfig {
  cluster: string;
  cloud?: string | undefined;
  region?: string | undefined;
  edgeUrl: string;
  key: string;
  /** Id of `key` in the edge's AGENT_KEYS (signed as "<cluster>/<keyId>"); undefined: the edge tries the cluster's keys. */
  keyId?: string | undefined;
  /** The edge's EDGEWAY_AUDIENCE, signed as `tag`; undefined when the edge sets none. */
  audience?: string | undefined;
  policy: 'sync' | 'upsert-only';
  ingressClasses: string[];
  gatewayClasses: string[];
  claimUnannotatedIngresses: boolean;
  crossNamespaceGrants: CrossNamespaceGrant[];
  hostnameMap: Record<string, string>;
  scheme: 'http' | 'https';
  watchServices: boolean;
  watchGatewayApi: boolean;
  debounceMs: number;
  resyncMs: number;
  heartbeatMs: number;
  stallMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxSoftErrors: number;
  httpPort: number;
  leaderElection: boolean;
  leaseName: string;
  leaseDurationMs: number;
  namespace: string;
  identity: string;
}

export class ConfigError extends Error {}

/** Reads the agent's configuration; throws ConfigError listing every bad variable. Never echoes the key. */
export function loadConfig(env: Record<string, string | undefined>): AgentConfig {
  const r = AgentConfigSchema.safeParse(env);
  if (!r.success)
    throw new ConfigError(`invalid agent configuration:\n${r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  const e = r.data;
  return {
    cluster: e.EDGEWAY_CLUSTER,
    cloud: e.EDGEWAY_CLOUD,
    region: e.EDGEWAY_REGION,
    edgeUrl: e.EDGEWAY_EDGE_URL.replace(/\/+$/, ''),
    key: e.EDGEWAY_AGENT_KEY,
    keyId: e.EDGEWAY_AGENT_KEY_ID,
    audience: e.EDGEWAY_AUDIENCE,
    policy: e.EDGEWAY_POLICY,
    ingressClasses: e.EDGEWAY_INGRESS_CLASSES,
    gatewayClasses: e.EDGEWAY_GATEWAY_CLASSES,
    claimUnannotatedIngresses: e.EDGEWAY_CLAIM_UNANNOTATED_INGRESSES === 'true',
    crossNamespaceGrants: e.EDGEWAY_CROSS_NAMESPACE_GRANTS,
    hostnameMap: e.EDGEWAY_HOSTNAME_MAP,
    scheme: e.EDGEWAY_SCHEME,
    watchServices: e.EDGEWAY_WATCH_SERVICES === 'true',
    watchGatewayApi: e.EDGEWAY_WATCH_GATEWAY_API === 'true',
    debounceMs: e.EDGEWAY_DEBOUNCE_MS,
    resyncMs: e.EDGEWAY_RESYNC_SECONDS * 1000,
    heartbeatMs: e.EDGEWAY_HEARTBEAT_SECONDS * 1000,
    stallMs: e.EDGEWAY_STALL_SECONDS * 1000,
    backoffBaseMs: e.EDGEWAY_BACKOFF_BASE_MS,
    backoffMaxMs: e.EDGEWAY_BACKOFF_MAX_MS,
    maxSoftErrors: e.EDGEWAY_MAX_SOFT_ERRORS,
    httpPort: e.EDGEWAY_HTTP_PORT,
    leaderElection: e.EDGEWAY_LEADER_ELECT === 'true',
    leaseName: e.EDGEWAY_LEASE_NAME,
    leaseDurationMs: e.EDGEWAY_LEASE_SECONDS * 1000,
    namespace: e.POD_NAMESPACE,
    identity: e.POD_NAME ?? `edgeway-agent-${Math.random().toString(36).slice(2, 10)}`,
  };
}
