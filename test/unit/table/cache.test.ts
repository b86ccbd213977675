import { describe, expect, it } from 'vitest';
import { KV_POINTER_KEY, snapshotKey } from '../../../src/schema/snapshot.js';
import { TableCache, type TableSource } from '../../../src/table/cache.js';

const route = (name: string) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name },
  spec: { hostnames: [`${name}.example.com`], rules: [{ backendRefs: [{ name: 'b' }] }] },
});
const snapshot = (version: number, routes = [route('a')]) =>
  JSON.stringify({ version, createdAt: '2026-11-26T00:00:00Z', routes, backends: [] });
const pointer = (version: number) => JSON.stringify({ version, key: snapshotKey(version) });

class FakeKV implements TableSource {
  data = new Map<string, string>();
  reads = 0;
  failing = false;
  async get(key: string): Promise<string | null> {
    this.reads++;
    if (this.failing) throw new Error('KV GET failed: 503');
    return this.data.get(key) ?? null;
  }
  publish(version: number, body = snapshot(version)) {
    this.data.set(snapshotKey(version), body);
    this.data.set(KV_POINTER_KEY, pointer(version));
  }
}

function setup(refreshMs = 1000) {
  const logs: Record<string, unknown>[] = [];
  const pending: Promise<unknown>[] = [];
  const cache = new TableCache((l) => logs.push(l), refreshMs);
  const kv = new FakeKV();
  const waitUntil = (p: Promise<unknown>) => pending.push(p);
  const settle = () => Promise.all(pending.splice(0));
  return { logs, cache, kv, waitUntil, settle };
}

describe('TableCache', () => {
  it('loads on a cold start and compiles once per version', async () => {
    const { cache, kv, waitUntil } = setup();
    kv.publish(1);
    const t = await cache.get(kv, 0, waitUntil);
    expect(t?.version).toBe(1);
    expect(
      t?.matcher.match({ host: 'a.example.com', path: '/', method: 'GET', headers: new Headers(), query: new URLSearchParams() })?.routeKey,
    ).toBe('default/a');
    expect(await cache.get(kv, 500, waitUntil)).toBe(t);
  });

  it('serves the stale table while refreshing in the background', async () => {
    const { cache, kv, waitUntil, settle } = setup();
    kv.publish(1);
    const first = await cache.get(kv, 0, waitUntil);
    kv.publish(2, snapshot(2, [route('b')]));
    const stale = await cache.get(kv, 1500, waitUntil);
    expect(stale).toBe(first);
    await settle();
    expect((await cache.get(kv, 1600, waitUntil))?.version).toBe(2);
  });

  it('does not re-download or recompile when the pointer has not moved', async () => {
    const { cache, kv, waitUntil, settle } = setup();
    kv.publish(1);
    const first = await cache.get(kv, 0, waitUntil);
    kv.reads = 0;
    await cache.get(kv, 1500, waitUntil);
    await settle();
    expect(kv.reads).toBe(1); // the pointer only
    expect(await cache.get(kv, 1600, waitUntil)).toBe(first);
  });

  it('keeps the last good table when a snapshot does not validate, and logs why', async () => {
    const { cache, kv, waitUntil, settle, logs } = setup();
    kv.publish(1);
    await cache.get(kv, 0, waitUntil);
    kv.publish(2, JSON.stringify({ version: 2, createdAt: 'yesterday', routes: [{ kind: 'HTTPRoute' }] }));
    await cache.get(kv, 1500, waitUntil);
    await settle();
    expect((await cache.get(kv, 1600, waitUntil))?.version).toBe(1);
    const rejected = logs.find((l) => l.msg === 'routing table snapshot rejected; keeping the last good table');
    expect(rejected).toMatchObject({ level: 'error', version: 2, serving: 1 });
    expect((rejected!.issues as string[]).length).toBeGreaterThan(0);
    // The bad version is not fetched again until the pointer moves on.
    kv.reads = 0;
    await cache.get(kv, 3000, waitUntil);
    await settle();
    expect(kv.reads).toBe(1);
    kv.publish(3);
    await cache.get(kv, 4500, waitUntil);
    await settle();
    expect((await cache.get(kv, 4600, waitUntil))?.version).toBe(3);
  });

  it('rejects invalid JSON, a missing snapshot key and a version mismatch', async () => {
    const { cache, kv, waitUntil, settle } = setup(0);
    kv.publish(1);
    await cache.get(kv, 0, waitUntil);
    kv.publish(2, '{not json');
    await cache.get(kv, 1, waitUntil);
    await settle();
    kv.data.set(KV_POINTER_KEY, pointer(3));
    await cache.get(kv, 2, waitUntil);
    await settle();
    kv.publish(4, snapshot(5));
    await cache.get(kv, 3, waitUntil);
    await settle();
    expect(cache.table?.version).toBe(1);
  });

  it('keeps serving when KV fails, and has nothing (not a crash) when KV fails on a cold start', async () => {
    const { cache, kv, waitUntil, settle, logs } = setup();
    kv.failing = true;
    expect(await cache.get(kv, 0, waitUntil)).toBeUndefined();
    kv.failing = false;
    kv.publish(1);
    expect((await cache.get(kv, 1, waitUntil))?.version).toBe(1);
    kv.failing = true;
    expect((await cache.get(kv, 5000, waitUntil))?.version).toBe(1);
    await settle();
    expect(logs.some((l) => l.msg === 'routing table refresh failed; keeping the last good table' && l.serving === 1)).toBe(true);
  });
});
