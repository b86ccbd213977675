/** Runs the admin app inside workerd tests: the real COORDINATOR binding when wrangler.toml has it, else an in-memory DO. */
import { createExecutionContext, env } from 'cloudflare:test';
import { Hono } from 'hono';
import { ADMIN_BASE_PATH, adminApp } from '../../../../src/admin/app.js';
import { Coordinator } from '../../../../src/admin/coordinator.js';
import type { AdminEnv } from '../../../../src/admin/env.js';
import { signRequest } from '../../../../src/admin/signing.js';
import { KV_POINTER_KEY, Snapshot, SnapshotPointer } from '../../../../src/schema.js';
import { memoryState, singletonNamespace } from './memory-do.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const AGENT_KEYS: Record<string, string> = {
  'aws-use1': 'secret-aws-use1-0123456789abcdef',
  'gcp-euw1': 'secret-gcp-euw1-0123456789abcdef',
  'azure-weu': 'secret-azure-weu-0123456789abcde',
};

export async function adminHarness() {
  const base = env as unknown as AdminEnv;
  let namespace = base.COORDINATOR;
  let stop = () => {};
  const testEnv: AdminEnv = { ...base, ADMIN_TOKEN, AGENT_KEYS: JSON.stringify(AGENT_KEYS) };
  if (!namespace) {
    const mem = memoryState();
    const obj = new Coordinator(mem.ctx, testEnv);
    mem.attach(obj);
    await mem.ready();
    namespace = singletonNamespace(obj);
    stop = mem.stop;
  }
  const root = new Hono().route(ADMIN_BASE_PATH, adminApp);
  const callEnv = { ...testEnv, COORDINATOR: namespace };

  const call = (path: string, init: RequestInit = {}) =>
    root.fetch(new Request(`https://edge.test${ADMIN_BASE_PATH}${path}`, init), callEnv, createExecutionContext());

  const op = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return call(path, { ...init, headers, ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}) });
  };

  /** A signed agent request; options forge the parts the security tests need to forge. */
  const agent = async (
    cluster: string,
    path: string,
    body: unknown,
    opts: { now?: number; secret?: string; headerCluster?: string } = {},
  ) => {
    const text = JSON.stringify(body);
    const headers = await signRequest({
      secret: opts.secret ?? AGENT_KEYS[cluster] ?? 'unknown-cluster-secret-000000',
      cluster: opts.headerCluster ?? cluster,
      method: 'POST',
      path: `${ADMIN_BASE_PATH}${path}`,
      body: text,
      now: opts.now ?? Date.now(),
    });
    const request = () => call(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: text });
    return { response: await request(), replay: request, headers, text };
  };

  const etag = async () => (await op('/snapshot')).headers.get('etag') ?? '"0"';

  /** Waits until the KV pointer reaches `version` and returns the snapshot it names. */
  const kvSnapshot = async (version: number, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const raw = await base.ROUTES.get(KV_POINTER_KEY);
      const pointer = raw ? SnapshotPointer.parse(JSON.parse(raw)) : null;
      if (pointer && pointer.version >= version) {
        const snap = await base.ROUTES.get(pointer.key);
        return { pointer, snapshot: Snapshot.parse(JSON.parse(snap!)) };
      }
      if (Date.now() > deadline) throw new Error(`KV pointer did not reach version ${version} (at ${pointer?.version ?? 'none'})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  return { call, op, agent, etag, kvSnapshot, stop, kv: base.ROUTES };
}

export const resources = (blueWeight = 100, greenWeight = 0) => [
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'shop', namespace: 'default' },
    spec: {
      hostnames: ['shop.example.com'],
      rules: [
        {
          name: 'main',
          backendRefs: [
            { name: 'blue', weight: blueWeight },
            { name: 'green', weight: greenWeight },
          ],
        },
      ],
    },
  },
  { apiVersion: 'edgeway.dev/v1alpha1', kind: 'Backend', metadata: { name: 'blue', namespace: 'default' }, spec: { endpoints: [] } },
  {
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'green', namespace: 'default' },
    spec: { endpoints: [{ url: 'https://green.example.com', cluster: 'static' }] },
  },
];

export const report = (cluster: string, n: number, policy: 'sync' | 'upsert-only' = 'sync') => ({
  cluster,
  policy,
  endpoints: [
    {
      backend: { namespace: 'default', name: 'blue' },
      url: `https://${cluster}.ingress.example.com`,
      cluster,
      region: 'r1',
      readyEndpoints: n,
      weight: 1,
      priority: 0,
    },
  ],
});
