/** Shared pieces of the rollout and metrics tests in workerd: admin calls, a stable/canary route and traffic. */
import { env, SELF } from 'cloudflare:test';
import { refreshTableNow } from '../../src/app/index.js';
import { KV_POINTER_KEY } from '../../src/schema/snapshot.js';
import { backend, endpoint, route } from './helpers.js';

export const TOKEN = 'test-admin-token-0123456789abcdef';

export async function op(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${TOKEN}`);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  return SELF.fetch(`http://gateway.test/_edgeway/v1${path}`, {
    ...init,
    headers,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
}

/**
 * Stable "blue" and canary "green" Backends on two loopback upstreams (two clusters), and a route whose stable ref
 * always asks its upstream for /ok while the canary gets the client's path: /_status/500 makes only the canary fail,
 * /_sleep/300 makes only the canary slow.
 */
export function stack(
  name: string,
  rollout: Record<string, unknown> | null,
  weights = { stable: 100, canary: 0 },
  canaryUpstream = 'green',
) {
  return [
    backend(`${name}-stable`, [endpoint('blue')]),
    // Its own upstream per test: a canary made to fail ejects its endpoint from this isolate's passive health.
    backend(`${name}-canary`, [endpoint(canaryUpstream)]),
    route(name, {
      hostnames: [`${name}.example.com`],
      rules: [
        {
          name: 'main',
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          backendRefs: [
            {
              name: `${name}-stable`,
              weight: weights.stable,
              filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/ok' } } }],
            },
            { name: `${name}-canary`, weight: weights.canary },
          ],
        },
      ],
    }),
    ...(rollout
      ? [
          {
            apiVersion: 'edgeway.dev/v1alpha1',
            kind: 'Rollout',
            metadata: { name },
            spec: {
              targetRef: { name, rule: 'main' },
              stableRef: { name: `${name}-stable` },
              canaryRef: { name: `${name}-canary` },
              ...rollout,
            },
          },
        ]
      : []),
  ];
}

/** Publishes through the admin API and waits until the gateway serves the new table (the coordinator writes KV at most once a second). */
export async function publish(resources: unknown[]): Promise<Response> {
  const res = await op('/resources', { method: 'PUT', json: { resources }, headers: { 'if-match': '*' } });
  if (res.status !== 200) return res;
  const { version } = (await res.clone().json()) as { version: number };
  for (let i = 0; i < 100; i++) {
    const pointer = (await env.ROUTES.get(KV_POINTER_KEY, 'json')) as { version: number } | null;
    if ((pointer?.version ?? 0) >= version) break;
    await sleep(50);
  }
  await refreshTableNow(env);
  return res;
}

export interface RolloutInfo {
  name: string;
  phase: string;
  step: number;
  weights: { stable: number; canary: number } | null;
  failedChecks: number;
  message: string;
  lastAnalysis: { verdict: string; reasons: string[]; canary: { requests: number } } | null;
}

export async function rolloutOf(name: string): Promise<RolloutInfo> {
  const list = (await (await op('/rollouts')).json()) as RolloutInfo[];
  const r = list.find((x) => x.name === name);
  if (!r) throw new Error(`rollout ${name} not listed`);
  return r;
}

/** One round of `n` requests through the gateway (after loading the newest table); counts by backend and status. */
export async function traffic(host: string, path: string, n: number) {
  await refreshTableNow(env);
  const res = await Promise.all(
    Array.from({ length: n }, async () => {
      const r = await SELF.fetch(`http://gw.test${path}`, { headers: { host } });
      await r.arrayBuffer();
      return { backend: r.headers.get('x-edgeway-backend') ?? '', status: r.status };
    }),
  );
  return res;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
