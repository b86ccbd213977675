/** `edgeway build` writes a big table sharded into kv-seed and recognises an unchanged rebuild of it. */
import { describe, expect, it } from 'vitest';
import { parseSeed, planSeed, seedEntries } from '../../../src/cli/build.js';
import { KV_POINTER_KEY, Resource } from '../../../src/schema/snapshot.js';
import { SHARD_THRESHOLD_BYTES, snapshotFromEntries } from '../../../src/table/shard.js';

const resources = (n: number) =>
  [
    {
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'Backend',
      metadata: { name: 'api' },
      spec: { endpoints: [{ url: 'https://api.origin.test', cluster: 'c1' }] },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'wild' },
      spec: { hostnames: ['*.t.example.com'], rules: [{ backendRefs: [{ name: 'api' }] }] },
    },
    ...Array.from({ length: n }, (_, i) => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: `tenant-${i}` },
      spec: {
        hostnames: [`tenant-${i}.t.example.com`],
        rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/v1/tenant-${i}` } }], backendRefs: [{ name: 'api' }] }],
      },
    })),
  ].map((r) => Resource.parse(r));

const NOW = '2026-12-01T00:00:00.000Z';

describe('edgeway build, big tables', () => {
  it('keeps a small table in one key', () => {
    expect(seedEntries(planSeed(resources(3), undefined, NOW)).map((e) => e.key)).toEqual(['snapshot:v1', KV_POINTER_KEY]);
  });

  it('writes shards, then the index, then the pointer, and a rebuild of the same routes keeps the version', () => {
    const plan = planSeed(resources(5000), undefined, NOW);
    expect(JSON.stringify(plan.snapshot).length).toBeGreaterThan(SHARD_THRESHOLD_BYTES);
    const entries = seedEntries(plan);
    const keys = entries.map((e) => e.key);
    expect(keys.at(-1)).toBe(KV_POINTER_KEY);
    expect(keys.at(-2)).toBe('snapshot:v1:index');
    expect(keys.slice(0, -2).every((k) => k.startsWith('snapshot:v1:shard:'))).toBe(true);
    // Every value stays far below KV's 25 MiB.
    expect(Math.max(...entries.map((e) => e.value.length))).toBeLessThan(1024 * 1024);
    const get = (k: string) => entries.find((e) => e.key === k)?.value;
    expect(snapshotFromEntries(JSON.parse(get('snapshot:v1:index')!), get)).toEqual(plan.snapshot);

    const previous = parseSeed(JSON.stringify(entries));
    expect(previous?.snapshot).toEqual(plan.snapshot);
    const again = planSeed(resources(5000), previous, '2026-12-02T00:00:00.000Z');
    expect(again.changed).toBe(false);
    expect(seedEntries(again)).toEqual(entries);
    const changed = planSeed(resources(5001), previous, '2026-12-02T00:00:00.000Z');
    expect(changed.snapshot.version).toBe(2);
  });
});
