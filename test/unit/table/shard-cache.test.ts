/** TableCache over a sharded table: lazy shard loads, one KV read per shard, and the last-good rules per shard. */
import { describe, expect, it } from 'vitest';
import { KV_POINTER_KEY, Snapshot } from '../../../src/schema/snapshot.js';
import { TableCache, type TableSource } from '../../../src/table/cache.js';
import { shardOf, splitSnapshot, tableEntries } from '../../../src/table/shard.js';

const CREATED = '2026-11-26T00:00:00Z';
const OPTS = { thresholdBytes: 0, targetBytes: 400 };
const HOSTS = Array.from({ length: 12 }, (_, i) => `h${i}.example.com`);

const route = (name: string, host: string | undefined) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name },
  spec: { ...(host ? { hostnames: [host] } : {}), rules: [{ backendRefs: [{ name: 'b' }] }] },
});
const snapshot = (version: number, suffix = '') =>
  Snapshot.parse({
    version,
    createdAt: CREATED,
    routes: [...HOSTS.map((h, i) => route(`r${i}${suffix}`, h)), route(`catchall${suffix}`, undefined)],
  });

class FakeKV implements TableSource {
  data = new Map<string, string>();
  reads: string[] = [];
  failing = new Set<string>();
  gate: Promise<void> | undefined;
  async get(key: string): Promise<string | null> {
    this.reads.push(key);
    if (this.gate) await this.gate;
    if (this.failing.has(key)) throw new Error('KV GET failed: 503');
    return this.data.get(key) ?? null;
  }
  publish(snap: Snapshot) {
    for (const e of tableEntries(snap, CREATED, OPTS)) this.data.set(e.key, e.value);
  }
}

function setup() {
  const logs: Record<string, unknown>[] = [];
  const pending: Promise<unknown>[] = [];
  const cache = new TableCache((l) => logs.push(l), 1000);
  const kv = new FakeKV();
  const waitUntil = (p: Promise<unknown>) => pending.push(p);
  const settle = () => Promise.all(pending.splice(0));
  const routeFor = async (host: string, now: number) =>
    (await cache.get(kv, now, waitUntil, host))?.matcher.match({
      host,
      path: '/',
      method: 'GET',
      headers: new Headers(),
      query: new URLSearchParams(),
    })?.routeKey;
  return { logs, cache, kv, waitUntil, settle, routeFor };
}

const count = splitSnapshot(snapshot(1), OPTS).index.sharding.count;
const shardKey = (v: number, host: string) => `snapshot:v${v}:shard:${shardOf(host, count)}`;
/** Two hosts in different shards. */
const [A, B] = (() => {
  const a = HOSTS[0]!;
  const b = HOSTS.find((h) => shardOf(h, count) !== shardOf(a, count))!;
  return [a, b];
})();

describe('TableCache, sharded table', () => {
  it('reads pointer, index and only the requested shard on a cold start; concurrent requests share one shard read', async () => {
    expect(count).toBeGreaterThan(2);
    const { kv, routeFor } = setup();
    kv.publish(snapshot(1));
    let open!: () => void;
    kv.gate = new Promise<void>((r) => (open = r));
    const answers = Promise.all([routeFor(A, 0), routeFor(A, 0), routeFor(A, 0)]);
    await new Promise((r) => setTimeout(r, 0));
    open();
    kv.gate = undefined;
    expect(await answers).toEqual(['default/r0', 'default/r0', 'default/r0']);
    expect(kv.reads).toEqual([KV_POINTER_KEY, 'snapshot:v1:index', shardKey(1, A)]);
    expect(await routeFor(B, 10)).toBe(`default/r${HOSTS.indexOf(B)}`);
    expect(kv.reads).toHaveLength(4);
    expect(await routeFor(A, 20)).toBe('default/r0');
    expect(kv.reads).toHaveLength(4);
  });

  it('answers table_unavailable (no table) only for the hosts of a shard it cannot fetch, and retries after the interval', async () => {
    const { kv, routeFor, cache, waitUntil } = setup();
    kv.publish(snapshot(1));
    kv.failing.add(shardKey(1, A));
    expect(await cache.get(kv, 0, waitUntil, A)).toBeUndefined();
    expect(await routeFor(B, 0)).toBe(`default/r${HOSTS.indexOf(B)}`);
    const reads = kv.reads.length;
    expect(await cache.get(kv, 500, waitUntil, A)).toBeUndefined(); // inside the retry interval: no new read
    expect(kv.reads.length).toBe(reads);
    kv.failing.clear();
    expect(await routeFor(A, 1500)).toBe('default/r0');
  });

  it('keeps serving the previous version for the hosts of a rejected shard, never refetching it; other hosts move on', async () => {
    const { kv, routeFor, settle, logs } = setup();
    kv.publish(snapshot(1));
    expect(await routeFor(A, 0)).toBe('default/r0');
    expect(await routeFor(B, 0)).toBe(`default/r${HOSTS.indexOf(B)}`);
    kv.publish(snapshot(2, '-v2'));
    kv.data.set(
      shardKey(2, A),
      JSON.stringify({ version: 2, shard: shardOf(A, count), routes: [{ kind: 'HTTPRoute' }], positions: { routes: [0], backends: [] } }),
    );
    await routeFor(A, 1500); // triggers the background refresh of the pointer
    await settle();
    // A's v2 shard is bad: A stays on v1 while it loads and after the rejection.
    expect(await routeFor(A, 1600)).toBe('default/r0');
    await settle();
    expect(await routeFor(A, 1700)).toBe('default/r0');
    expect(logs.some((l) => l.msg === 'routing table shard rejected' && l.version === 2)).toBe(true);
    // B's v2 shard is good: first answer is v1 (stale while the shard loads), then v2.
    expect(await routeFor(B, 1700)).toBe(`default/r${HOSTS.indexOf(B)}`);
    await settle();
    expect(await routeFor(B, 1800)).toBe(`default/r${HOSTS.indexOf(B)}-v2`);
    const reads = kv.reads.filter((k) => k === shardKey(2, A)).length;
    await routeFor(A, 5000);
    await settle();
    expect(kv.reads.filter((k) => k === shardKey(2, A)).length).toBe(reads);
  });

  it('a cold isolate with a bad shard and no previous version answers nothing for that shard only', async () => {
    const { kv, routeFor, cache, waitUntil } = setup();
    kv.publish(snapshot(1));
    kv.data.set(shardKey(1, A), '{"not":"a shard"}');
    expect(await cache.get(kv, 0, waitUntil, A)).toBeUndefined();
    expect(await routeFor(B, 0)).toBe(`default/r${HOSTS.indexOf(B)}`);
    // Hosts without an exact route in their shard still reach the index's catch-all.
    const elsewhere = Array.from({ length: 50 }, (_, i) => `nobody${i}.example.org`).find((h) => shardOf(h, count) !== shardOf(A, count))!;
    expect(await routeFor(elsewhere, 0)).toBe('default/catchall');
  });

  it('keeps at most its shard budget compiled, dropping the least recently used shard and reading it again on demand', async () => {
    const kv = new FakeKV();
    kv.publish(snapshot(1));
    const shardBytes = Math.max(...[...kv.data].filter(([k]) => k.includes(':shard:')).map(([, v]) => v.length));
    // Room for two shards.
    const cache = new TableCache(() => {}, 60_000, shardBytes * 2 + 1);
    const hostsByShard = new Map<number, string>();
    for (const h of HOSTS) if (!hostsByShard.has(shardOf(h, count))) hostsByShard.set(shardOf(h, count), h);
    const [h1, h2, h3] = [...hostsByShard.values()];
    const at = async (host: string) =>
      (await cache.get(kv, 0, () => {}, host))?.matcher.match({
        host,
        path: '/',
        method: 'GET',
        headers: new Headers(),
        query: new URLSearchParams(),
      })?.routeKey;
    const reads = (host: string) => kv.reads.filter((k) => k === shardKey(1, host)).length;
    expect(await at(h1!)).toBe(`default/r${HOSTS.indexOf(h1!)}`);
    expect(await at(h2!)).toBe(`default/r${HOSTS.indexOf(h2!)}`);
    expect(await at(h1!)).toBe(`default/r${HOSTS.indexOf(h1!)}`); // h1 is now the most recently used
    expect(await at(h3!)).toBe(`default/r${HOSTS.indexOf(h3!)}`); // drops h2's shard
    expect(await at(h1!)).toBe(`default/r${HOSTS.indexOf(h1!)}`);
    expect(reads(h1!)).toBe(1);
    expect(await at(h2!)).toBe(`default/r${HOSTS.indexOf(h2!)}`);
    expect(reads(h2!)).toBe(2);
  });

  it('reads the single-key form and switches between the forms', async () => {
    const { kv, routeFor, settle } = setup();
    const small = snapshot(1);
    for (const e of tableEntries(small, CREATED)) kv.data.set(e.key, e.value);
    expect(await routeFor(A, 0)).toBe('default/r0');
    expect(kv.reads).toEqual([KV_POINTER_KEY, 'snapshot:v1']);
    kv.publish(snapshot(2, '-v2'));
    await routeFor(A, 1500);
    await settle();
    expect(await routeFor(A, 1600)).toBe('default/r0'); // v1 (whole) while v2's shard loads
    await settle();
    expect(await routeFor(A, 1700)).toBe('default/r0-v2');
  });
});
