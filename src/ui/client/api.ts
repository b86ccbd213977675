/** The dashboard's only data source: the admin API and the health JSON, with the operator token from sessionStorage. */

const TOKEN_KEY = 'edgeway.operatorToken';
export const ADMIN = '/_edgeway/v1';
export const HEALTH = '/_edgeway/health';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string): void => sessionStorage.setItem(TOKEN_KEY, t),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Calls the API with `Authorization: Bearer`; 401 throws Unauthorized (the caller signs out), other errors ApiError. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<{ data: T; etag: string | null }> {
  const t = init.token ?? token.get();
  if (!t) throw new Unauthorized('not signed in');
  const headers: Record<string, string> = { authorization: `Bearer ${t}`, accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (res.status === 401) throw new Unauthorized('token refused');
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const msg = (data as { error?: string; message?: string } | undefined)?.error ?? `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return { data: data as T, etag: res.headers.get('etag') };
}

// ---- Shapes the dashboard reads (the admin API's zod schemas in src/admin/*.ts are the contract) ----

export interface Endpoint {
  url: string;
  cluster: string;
  cloud?: string;
  region?: string;
  priority: number;
  weight: number;
  readyEndpoints?: number;
  stale?: boolean;
}
export interface Meta {
  name: string;
  namespace: string;
}
export interface BackendRes {
  metadata: Meta;
  spec: { endpoints: Endpoint[]; failover?: { fallbackBackend?: string } };
}
export interface BackendRef {
  name: string;
  namespace?: string;
  kind?: string;
  weight?: number;
}
export interface HTTPRouteMatch {
  path?: { type?: string; value?: string };
  method?: string;
  headers?: { name: string; value: string; type?: string }[];
  queryParams?: { name: string; value: string; type?: string }[];
}
export interface RouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  backendRefs?: BackendRef[];
  filters?: { type: string }[];
  sessionPersistence?: { sessionName?: string; type?: string };
}
export interface RouteRes {
  metadata: Meta;
  spec: { hostnames?: string[]; rules: RouteRule[] };
}
export interface PolicyRes {
  kind: string;
  metadata: Meta;
  spec: { targetRefs?: { kind: string; name: string; sectionName?: string }[] };
}
export interface Snapshot {
  version: number;
  createdAt: string;
  routes: RouteRes[];
  backends: BackendRes[];
  policies?: PolicyRes[];
  securityPolicies?: PolicyRes[];
}
export interface ClusterInfo {
  cluster: string;
  lastHeartbeat: string | null;
  stale: boolean;
  endpoints: number;
  served: number;
  cordoned: boolean;
  refused: unknown[];
  agentVersion?: string;
}
export interface HealthEndpoint {
  key: string;
  url: string;
  cluster: string;
  region?: string;
  priority: number;
  readyEndpoints?: number;
  stale?: boolean;
  usable: boolean;
  trial: boolean;
  reasons: string[];
  active?: {
    state: string;
    reason?: string;
    lastProbe?: { at: number; status?: number; error?: string; detail?: string; latencyMs?: number };
  };
  passive?: { state: string; lastReason?: string; ejectedUntil?: number };
}
export interface HealthView {
  generatedAt: number;
  backends: { backend: string; endpoints: HealthEndpoint[]; tierLoads: number[] }[];
}
export interface SeriesSummary {
  route: string;
  rule: string;
  backend: string;
  cluster: string;
  requests: number;
  responses: Record<string, number>;
  gatewayErrors: { connect: number; timeout: number; other: number };
  errorRate: number;
  latency: { bucketsMs: number[]; counts: number[]; sumMs: number; p50Ms: number | null; p90Ms: number | null; p99Ms: number | null };
}
export interface MetricsResult {
  from: string;
  to: string;
  routes: string[];
  series: SeriesSummary[];
}
export interface Stats {
  requests: number;
  failures: number;
  errorRate: number;
  p99Ms: number | null;
}
export interface RolloutInfo {
  name: string;
  namespace: string;
  target: { route: string; rule: string } | null;
  stable: string;
  canary: string;
  phase: string;
  step: number;
  steps: number;
  weights: { stable: number; canary: number } | null;
  failedChecks: number;
  threshold: number;
  lastAnalysis: { at: string; step: number; verdict: string; reasons: string[]; canary: Stats; stable: Stats } | null;
  message: string;
  updatedAt: string | null;
  nextCheckAt: string | null;
}
export interface Explanation {
  version: number | null;
  request: { host: string; path: string; method: string };
  outcome: 'forward' | 'redirect' | 'refused';
  status?: number;
  code?: string;
  location?: string;
  route?: { key: string; rule: string; ruleIndex: number; matchIndex: number; matchedHostname: string; match: unknown };
  policies: { kind: string; key: string }[];
  backendRefs: { key: string; weight: number; share: number; chosen: boolean }[];
  session?: { name: string; presented: boolean };
  backend?: {
    key: string;
    fallbackFrom?: string;
    panic: boolean;
    endpoints: {
      url: string;
      cluster: string;
      region?: string;
      priority: number;
      weight: number;
      usable: boolean;
      reasons: string[];
      share: number;
    }[];
  };
  endpoint?: { url: string; cluster: string; region?: string; backend: string } | null;
  steps: { stage: string; outcome: string; detail: string }[];
}
