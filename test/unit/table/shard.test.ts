/** Sharded tables: the split is lossless, and index + shard match exactly what the whole table matches. */
import { describe, expect, it } from 'vitest';
import type { MatchRequest, RouteMatch } from '../../../src/routing.js';
import { Snapshot, type SnapshotInput } from '../../../src/schema/snapshot.js';
import { validateShard, validateTableRoot } from '../../../src/schema/validate.js';
import { TableCache, type TableSource } from '../../../src/table/cache.js';
import { compileTable } from '../../../src/table/compile.js';
import { joinShards, shardOf, splitSnapshot, tableEntries } from '../../../src/table/shard.js';
import { generate } from '../../support/random-table.js';

const CREATED = '2026-11-26T00:00:00Z';

class MemoryKV implements TableSource {
  data = new Map<string, string>();
  reads: string[] = [];
  async get(key: string): Promise<string | null> {
    this.reads.push(key);
    return this.data.get(key) ?? null;
  }
}

function load(snapshot: Snapshot, opts = { thresholdBytes: 0, targetBytes: 1500 }) {
  const kv = new MemoryKV();
  const entries = tableEntries(snapshot, CREATED, opts);
  for (const e of entries) kv.data.set(e.key, e.value);
  const cache = new TableCache(() => {}, 60_000);
  const get = (host: string) => cache.get(kv, 0, () => {}, host);
  return { kv, entries, cache, get };
}

const req = (host: string, path = '/', headers: Record<string, string> = {}): MatchRequest => ({
  host,
  path,
  method: 'GET',
  headers: new Headers(headers),
  query: new URLSearchParams(),
});

const fmt = (m: RouteMatch | null) =>
  m === null ? 'null' : `${m.routeKey}#${m.ruleIndex}.${m.matchIndex}@${m.matchedHostname}:${JSON.stringify(m.rule)}`;

const route = (name: string, hostnames: string[] | undefined, path: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'gateway.networking.k8s.io/v1' as const,
  kind: 'HTTPRoute' as const,
  metadata: { name, ...extra },
  spec: {
    ...(hostnames ? { hostnames } : {}),
    rules: [{ matches: [{ path: { type: 'PathPrefix' as const, value: path } }], backendRefs: [{ name: `be-${name}` }] }],
  },
});
const backend = (name: string, fallback?: string) => ({
  apiVersion: 'edgeway.dev/v1alpha1' as const,
  kind: 'Backend' as const,
  metadata: { name },
  spec: {
    endpoints: [{ url: `https://${name}.origin.test`, cluster: 'c1' }],
    ...(fallback ? { failover: { fallbackBackend: fallback } } : {}),
  },
});
const snapshotOf = (input: Omit<SnapshotInput, 'version' | 'createdAt'>) => Snapshot.parse({ version: 7, createdAt: CREATED, ...input });

describe('splitSnapshot / joinShards', () => {
  it('puts exact-host routes in their host shard, wildcard and host-less ones in the index, and joins back exactly', () => {
    const snap = snapshotOf({
      routes: [
        route('exact', ['a.example.com'], '/'),
        route('wild', ['*.example.com'], '/'),
        route('any', undefined, '/'),
        route('mixed', ['b.example.com', '*.b.example.com'], '/'),
        route('two', ['c.example.com', 'd.example.com'], '/'),
      ],
      backends: [
        backend('be-exact', 'be-spare'),
        backend('be-wild'),
        backend('be-any'),
        backend('be-mixed'),
        backend('be-two'),
        backend('be-spare'),
        backend('lonely'),
      ],
    });
    const { index, shards } = splitSnapshot(snap, { targetBytes: 100 });
    expect(index.sharding.count).toBeGreaterThan(1);
    expect(index.routes.map((r) => r.metadata.name)).toEqual(['wild', 'any', 'mixed']);
    const home = (host: string) => shards[shardOf(host, index.sharding.count)]!;
    expect(home('a.example.com').routes.map((r) => r.metadata.name)).toContain('exact');
    // A Backend travels with the shard whose routes use it, fallbacks included; nobody's Backend stays in the index.
    expect(home('a.example.com').backends.map((b) => b.metadata.name)).toEqual(expect.arrayContaining(['be-exact', 'be-spare']));
    expect(index.backends.map((b) => b.metadata.name)).toEqual(expect.arrayContaining(['be-wild', 'be-any', 'be-mixed', 'lonely']));
    expect(index.backends.map((b) => b.metadata.name)).not.toContain('be-exact');
    // A route with exact hosts in two shards is in both (and a mixed route in its exact host's shard too).
    for (const h of ['c.example.com', 'd.example.com']) expect(home(h).routes.map((r) => r.metadata.name)).toContain('two');
    expect(home('b.example.com').routes.map((r) => r.metadata.name)).toContain('mixed');
    // Every part passes the strict schemas the Worker reads with.
    expect(validateTableRoot(JSON.parse(JSON.stringify(index))).ok).toBe(true);
    for (const s of shards) expect(validateShard(JSON.parse(JSON.stringify(s))).ok).toBe(true);
    expect(joinShards(index, shards)).toEqual(snap);
    // An index that does not list a key per shard, or a position per route, is rejected like any bad snapshot.
    const broken = JSON.parse(JSON.stringify(index)) as typeof index;
    broken.sharding.keys.pop();
    expect(validateTableRoot(broken)).toMatchObject({ ok: false, issues: [{ path: ['sharding', 'keys'] }] });
    const unplaced = JSON.parse(JSON.stringify(index)) as typeof index;
    unplaced.positions.routes.pop();
    expect(validateTableRoot(unplaced)).toMatchObject({ ok: false, issues: [{ path: ['positions'] }] });
    expect(() => joinShards(index, shards.slice(1))).toThrow(/incomplete/);
  });

  it('keeps a small table in the single-key form and writes shards, then the index, then the pointer for a big one', () => {
    const snap = snapshotOf({ routes: [route('a', ['a.example.com'], '/')] });
    expect(tableEntries(snap, CREATED).map((e) => e.key)).toEqual(['snapshot:v7', 'snapshot:current']);
    const big = snapshotOf({ routes: Array.from({ length: 40 }, (_, i) => route(`r${i}`, [`h${i}.example.com`], '/')) });
    const keys = tableEntries(big, CREATED, { thresholdBytes: 1000, targetBytes: 1000 }).map((e) => e.key);
    expect(keys.length).toBeGreaterThan(4);
    expect(keys.slice(-2)).toEqual(['snapshot:v7:index', 'snapshot:current']);
    expect(keys.slice(0, -2).every((k) => /^snapshot:v7:shard:\d+$/.test(k))).toBe(true);
    expect(JSON.parse(tableEntries(big, CREATED, { thresholdBytes: 1000 }).at(-1)!.value)).toMatchObject({
      version: 7,
      key: 'snapshot:v7:index',
    });
  });
});

describe('sharded matching obeys Gateway API precedence across index and shards', () => {
  const snap = snapshotOf({
    routes: [
      route('wild', ['*.example.com'], '/'),
      route('exact-api', ['a.example.com'], '/api'),
      route('anyhost', undefined, '/'),
      route('deep-wild', ['*.a.example.com'], '/'),
      route('mixed', ['m.example.com', '*.m.example.com'], '/mixed'),
      route('exact-m', ['m.example.com'], '/'),
      ...Array.from({ length: 30 }, (_, i) => route(`filler${i}`, [`f${i}.example.com`], '/')),
    ],
  });
  const whole = compileTable(snap);
  const cases: [string, string, string][] = [
    ['a.example.com', '/api/x', 'default/exact-api'], // exact host in a shard beats the index's wildcard
    ['a.example.com', '/other', 'default/wild'], // no rule of the exact host matches: fall through to the wildcard
    ['x.a.example.com', '/', 'default/deep-wild'], // the longer wildcard wins
    ['example.com', '/', 'default/anyhost'], // no hostname matches at all: the host-less route
    ['f3.example.com', '/', 'default/filler3'],
    ['m.example.com', '/mixed/1', 'default/mixed'], // a route with exact and wildcard hosts competes in the exact group
    ['m.example.com', '/', 'default/exact-m'],
    ['z.m.example.com', '/mixed', 'default/mixed'], // ...and with its wildcard from the index
    ['z.m.example.com', '/', 'default/wild'],
  ];
  it.each(cases)('%s%s → %s', async (host, path, want) => {
    const { get, kv } = load(snap, { thresholdBytes: 0, targetBytes: 300 });
    const table = await get(host);
    const got = table?.matcher.match(req(host, path));
    expect(got?.routeKey).toBe(want);
    expect(fmt(got ?? null)).toBe(fmt(whole.matcher.match(req(host, path))));
    // The plan of the match comes from whichever part holds the route.
    expect(table?.plans.forMatch(got!).routeKey).toBe(want);
    expect(kv.reads.length).toBe(3);
  });
});

describe('sharded vs whole on random tables', () => {
  for (const seed of [1, 7, 42, 2026]) {
    it(`seed ${seed}: same answer for every request`, async () => {
      const { routes, requests } = generate(seed, 300, 2000);
      const snap = Snapshot.parse({ version: 3, createdAt: CREATED, routes });
      const whole = compileTable(snap);
      const { get, entries } = load(snap, { thresholdBytes: 0, targetBytes: 2000 });
      expect(entries.length).toBeGreaterThan(8);
      const mismatches: string[] = [];
      let hits = 0;
      for (const r of requests) {
        const want = whole.matcher.match(r);
        const table = await get(r.host);
        const got = table!.matcher.match(r);
        if (want) hits++;
        if (fmt(want) !== fmt(got)) mismatches.push(`${r.method} ${r.host}${r.path}: whole ${fmt(want)} sharded ${fmt(got)}`);
      }
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(hits).toBeGreaterThan(requests.length * 0.3);
    });
  }
});
