/** Runs the admin app inside workerd tests: the real COORDINATOR binding when wrangler.toml has it, else an in-memory DO. */
import { createExecutionContext, env } from 'cloudflare:test';
import { Hono } from 'hono';
import { ADMIN_BASE_PATH, adminApp } from '../../../../src/admin/app.js';
import { Coordinator } from '../../../../src/admin/durable-object.js';
import type { AdminEnv } from '../../../../src/admin/env.js';
import { signRequest } from '../../../../src/admin/signing.js';
import { KV_POINTER_KEY, Snapshot, SnapshotPointer } from '../../../../src/schema/snapshot.js';
import { memoryState, singletonNamespace } from './memory-do.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const AGENT_KEYS: Record<string, string> = {
  'aws-use1': 'secret-aws-use1-0123456789abcdef',
  'gcp-euw1': 'secret-gcp-euw1-0123456789abcdef',
  'azure-weu': 'secret-azure-weu-0123456789abcde',
};

/** `extra` overrides bindings (AGENT_KEYS, EDGEWAY_AUDIENCE, ...); `memory` forces an in-memory coordinator of its own. */
export async function adminHarness(extra: Partial<AdminEnv> = {}, opts: { memory?: boolean } = {}) {
  const base = env as unknown as AdminEnv;
  // A stand-in namespace (untyped stubs) when the coordinator runs in memory.
  let namespace: typeof base.COORDINATOR | DurableObjectNamespace | undefined = opts.memory ? undefined : base.COORDINATOR;
  let stop = () => {};
  const testEnv: AdminEnv = { ...base, ADMIN_TOKEN, AGENT_KEYS: JSON.stringify(AGENT_KEYS), ...extra };
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
  /** Changes bindings for the Worker side and the in-memory coordinator alike (a secret change, as deployed). */
  const setEnv = (patch: Partial<AdminEnv>) => {
    Object.assign(testEnv, patch);
    Object.assign(callEnv, patch);
  };

  const call = (path: string, init: RequestInit = {}, host = 'edge.test') =>
    root.fetch(new Request(`https://${host}${ADMIN_BASE_PATH}${path}`, init), callEnv, createExecutionContext());

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
    opts: { now?: number; secret?: string; keyid?: string; host?: string; tag?: string; signHost?: string } = {},
  ) => {
    const text = JSON.stringify(body);
    const host = opts.host ?? 'edge.test';
    const headers = await signRequest({
      secret: opts.secret ?? AGENT_KEYS[cluster] ?? 'unknown-cluster-secret-000000',
      keyid: opts.keyid ?? cluster,
      method: 'POST',
      url: `https://${opts.signHost ?? host}${ADMIN_BASE_PATH}${path}`,
      body: text,
      now: opts.now ?? Date.now(),
      tag: opts.tag,
    });
    const request = () => call(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: text }, host);
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

  return { call, op, agent, etag, kvSnapshot, stop, kv: base.ROUTES, env: callEnv, setEnv };
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
  {
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'blue', namespace: 'default' },
    // The three test clusters may report into blue; green takes static endpoints only.
    spec: { endpoints: [], clusters: { allowed: Object.keys(AGENT_KEYS).map((name) => ({ name })) } },
  },
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
