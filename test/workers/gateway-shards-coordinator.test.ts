/** The coordinator (admin API and agent path) writes a big table sharded: shards, then index, then pointer. */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KV_POINTER_KEY, Snapshot, SnapshotPointer } from '../../src/schema/snapshot.js';
import { SHARD_THRESHOLD_BYTES, snapshotFromEntries } from '../../src/table/shard.js';
import { adminHarness, report, resources } from '../unit/admin/support/harness.js';

let h: Awaited<ReturnType<typeof adminHarness>>;
beforeAll(async () => {
  h = await adminHarness();
});
afterAll(() => h.stop());

/** One customer hostname per route, all on the green Backend: a SaaS table. */
const customers = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: `customer-${i}`, namespace: 'default' },
    spec: {
      hostnames: [`c${i}.customers.example.com`],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/api' } }, { path: { type: 'Exact', value: '/login' } }],
          backendRefs: [{ name: 'green' }],
        },
      ],
    },
  }));

async function waitForPointer(version: number): Promise<SnapshotPointer> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const raw = await env.ROUTES.get(KV_POINTER_KEY);
    const p = raw ? SnapshotPointer.parse(JSON.parse(raw)) : null;
    if (p && p.version >= version) return p;
    if (Date.now() > deadline) throw new Error(`pointer did not reach ${version}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('coordinator flush of a big table', () => {
  it('writes the sharded form, which reads back as exactly the published snapshot, and the agent path keeps it sharded', async () => {
    const body = { resources: [...resources(), ...customers(4000)] };
    expect(JSON.stringify(body).length).toBeGreaterThan(SHARD_THRESHOLD_BYTES);
    const put = await h.op('/resources', { method: 'PUT', json: body, headers: { 'if-match': await h.etag() } });
    expect(put.status).toBe(200);
    const { version } = (await put.json()) as { version: number };
    const pointer = await waitForPointer(version);
    expect(pointer.key).toBe(`snapshot:v${version}:index`);
    const kvText = new Map<string, string>();
    const get = (key: string) => kvText.get(key);
    const index = JSON.parse((await env.ROUTES.get(pointer.key))!) as { sharding: { keys: string[] } };
    for (const key of index.sharding.keys) kvText.set(key, (await env.ROUTES.get(key))!);
    const fromKv = snapshotFromEntries(index, get);
    const published = Snapshot.parse(await (await h.op('/snapshot')).json());
    expect(fromKv).toEqual(published);

    // An agent report changes the blue Backend's endpoints: the next flush is sharded again, with the new endpoints.
    const pushed = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 3));
    expect(pushed.response.status).toBeLessThan(300);
    const next = await waitForPointer(version + 1);
    expect(next.key).toMatch(/:index$/);
    const nextIndex = JSON.parse((await env.ROUTES.get(next.key))!) as { sharding: { keys: string[] } };
    for (const key of nextIndex.sharding.keys) kvText.set(key, (await env.ROUTES.get(key))!);
    const blue = snapshotFromEntries(nextIndex, get)?.backends.find((b) => b.metadata.name === 'blue');
    expect(blue?.spec.endpoints.map((e) => e.url)).toContain('https://aws-use1.ingress.example.com');
  });
});
