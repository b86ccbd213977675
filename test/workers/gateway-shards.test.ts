/** A sharded routing table in workerd: the Worker loads index and shards from KV and matches across them. */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { refreshTableNow } from '../../src/app/index.js';
import { KV_POINTER_KEY, Resource, toSnapshot } from '../../src/schema/snapshot.js';
import { shardOf, tableEntries } from '../../src/table/shard.js';
import { backend, endpoint, get, route } from './helpers.js';

const OPTS = { thresholdBytes: 0, targetBytes: 600 };
const HOSTS = Array.from({ length: 10 }, (_, i) => `t${i}.shard.test`);

/** Writes the table the way the writers do (shards, index, pointer) and returns its shard count. */
async function publishSharded(version: number, resources: unknown[], corrupt?: (key: string) => boolean): Promise<number> {
  const snapshot = toSnapshot(
    resources.map((r) => Resource.parse(r)),
    version,
    new Date().toISOString(),
  );
  const entries = tableEntries(snapshot, snapshot.createdAt, OPTS);
  for (const e of entries) await env.ROUTES.put(e.key, corrupt?.(e.key) ? '{"version":1}' : e.value);
  expect(entries.at(-1)!.key).toBe(KV_POINTER_KEY);
  await refreshTableNow(env);
  return entries.length - 2;
}

const table = (upstream: string, tag = '') => [
  backend('blue', [endpoint('blue')]),
  backend('green', [endpoint('green')]),
  route('wild', { hostnames: ['*.shard.test'], rules: [{ backendRefs: [{ name: 'green' }] }] }),
  route('any', { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/catch' } }], backendRefs: [{ name: 'green' }] }] }),
  ...HOSTS.map((h, i) =>
    route(`exact${i}${tag}`, {
      hostnames: [h],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: upstream }] }],
    }),
  ),
];

describe('sharded routing table in the Worker', () => {
  let shards = 0;
  it('matches an exact host from its shard, falls through to the wildcard and host-less routes of the index', async () => {
    shards = await publishSharded(1, table('blue'));
    expect(shards).toBeGreaterThan(2);
    expect((await get('http://t0.shard.test/api/x')).echo?.upstream).toBe('blue');
    expect((await get('http://t0.shard.test/other')).echo?.upstream).toBe('green');
    expect((await get('http://nobody.example.org/catch/1')).echo?.upstream).toBe('green');
    expect((await get('http://nobody.example.org/none')).res.status).toBe(404);
  });

  it('answers 503 table_unavailable only for hosts of a bad shard this isolate never had; other hosts move on', async () => {
    const count = shards;
    // A host whose shard no request of the first test loaded.
    const loaded = new Set(['t0.shard.test', 'nobody.example.org'].map((h) => shardOf(h, count)));
    const victim = HOSTS.find((h) => !loaded.has(shardOf(h, count)))!;
    const k = shardOf(victim, count);
    await publishSharded(2, table('green', '-v2'), (key) => key === `snapshot:v2:shard:${k}`);
    const bad = await get(`http://${victim}/api/x`);
    expect(bad.res.status).toBe(503);
    expect(bad.json?.error).toBe('table_unavailable');
    // t0 was loaded in v1: it is served (v1 while its v2 shard loads, then v2), never refused.
    for (let i = 0; i < 3; i++) expect((await get('http://t0.shard.test/api/x')).res.status).toBe(200);
    expect((await get('http://t0.shard.test/api/x')).echo?.upstream).toBe('green');
  });
});
