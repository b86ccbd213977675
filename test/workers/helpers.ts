/** Shared helpers for gateway tests in workerd: resources pointing at the loopback upstreams, and publishing them. */
import { env, SELF } from 'cloudflare:test';
import { inject } from 'vitest';
import { refreshTableNow } from '../../src/app/index.js';
import { KV_POINTER_KEY, Resource, snapshotKey, toSnapshot, type Resource as ResourceT } from '../../src/schema/snapshot.js';

/** Validates resources with the real schema, writes snapshot then pointer, and makes this isolate load it. */
export async function publish(resources: unknown[]): Promise<number> {
  // Versions are immutable: always move past whatever the pointer names now.
  const current = (await env.ROUTES.get(KV_POINTER_KEY, 'json')) as { version: number } | null;
  const version = (current?.version ?? 0) + 1;
  const parsed = resources.map((r) => Resource.parse(r));
  const snapshot = toSnapshot(parsed, version, new Date().toISOString());
  await env.ROUTES.put(snapshotKey(version), JSON.stringify(snapshot));
  await env.ROUTES.put(KV_POINTER_KEY, JSON.stringify({ version, key: snapshotKey(version) }));
  await refreshTableNow(env);
  return version;
}

export const upstreamUrl = (name: string) => `http://127.0.0.1:${inject('upstreams')[name]}`;
export const refusedUrl = () => `http://127.0.0.1:${inject('refusedPort')}`;

export function backend(
  name: string,
  endpoints: Record<string, unknown>[],
  spec: Record<string, unknown> = {},
): ResourceT | Record<string, unknown> {
  return { apiVersion: 'edgeway.dev/v1alpha1', kind: 'Backend', metadata: { name }, spec: { endpoints, ...spec } };
}

export function endpoint(upstream: string, extra: Record<string, unknown> = {}) {
  return {
    url: upstream.startsWith('http') ? upstream : upstreamUrl(upstream),
    cluster: upstream.startsWith('http') ? 'refused' : upstream,
    ...extra,
  };
}

export function route(name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, ...metadata }, spec };
}

export interface Echo {
  upstream: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export async function get(url: string, init?: RequestInit): Promise<{ res: Response; echo?: Echo; json?: Record<string, unknown> }> {
  const res = await SELF.fetch(url, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const obj = parsed as Record<string, unknown> | undefined;
  return obj && 'upstream' in obj ? { res, echo: obj as unknown as Echo } : { res, ...(obj ? { json: obj } : {}) };
}
