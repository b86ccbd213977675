/** Staleness and revocation through the coordinator's alarm: a silent cluster keeps its endpoints (marked stale); one whose key is gone loses them. */
import { env } from 'cloudflare:test';
import { afterAll, expect, it } from 'vitest';
import { Coordinator } from '../../src/admin/durable-object.js';
import type { AdminEnv } from '../../src/admin/env.js';
import { KV_POINTER_KEY, Snapshot, SnapshotPointer } from '../../src/schema/snapshot.js';
import { memoryState } from '../unit/admin/support/memory-do.js';
import { AGENT_KEYS, report, resources } from '../unit/admin/support/harness.js';

// Always the in-memory state here (not the COORDINATOR binding), so the stale timeout can be 1 s.
const mem = memoryState();
const coordinatorEnv: AdminEnv = { ...(env as unknown as AdminEnv), AGENT_KEYS: JSON.stringify(AGENT_KEYS), AGENT_STALE_SECONDS: '1' };
const coordinator = new Coordinator(mem.ctx, coordinatorEnv);
mem.attach(coordinator);
afterAll(() => mem.stop());

async function kvSnapshot(): Promise<Snapshot | null> {
  const raw = await env.ROUTES.get(KV_POINTER_KEY);
  if (!raw) return null;
  const p = SnapshotPointer.parse(JSON.parse(raw));
  return Snapshot.parse(JSON.parse((await env.ROUTES.get(p.key))!));
}

async function waitFor<T>(fn: () => Promise<T | null | false>, ms = 6000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('marks a cluster stale after its heartbeat timeout, keeps its endpoints, and clears it on the next heartbeat', async () => {
  await mem.ready();
  expect((await coordinator.publish(resources(), '*')).ok).toBe(true);
  expect((await coordinator.push('aws-use1', 'sig-1', report('aws-use1', 2))).ok).toBe(true);
  const blue = (s: Snapshot | null) => s?.backends.find((b) => b.metadata.name === 'blue')?.spec.endpoints ?? [];

  // No heartbeat: the alarm marks it stale, and the flushed KV snapshot says so.
  const stale = await waitFor(async () => {
    const s = await kvSnapshot();
    return blue(s)[0]?.stale === true ? s : null;
  });
  expect(blue(stale)).toEqual([
    expect.objectContaining({ owner: 'aws-use1', url: 'https://aws-use1.ingress.example.com', readyEndpoints: 2, stale: true }),
  ]);
  expect((await coordinator.clusters())[0]).toMatchObject({ cluster: 'aws-use1', stale: true, endpoints: 1 });

  expect((await coordinator.heartbeat('aws-use1', 'sig-2', undefined)).ok).toBe(true);
  const fresh = await coordinator.getSnapshot();
  expect(blue(fresh.snapshot)[0]!.stale).toBeUndefined();
  await waitFor(async () => blue(await kvSnapshot())[0]?.stale === undefined);
});

it('withdraws the endpoints of a cluster whose key left AGENT_KEYS after the stale timeout (not before), in KV too', async () => {
  await mem.ready();
  const blue = (s: Snapshot | null) => s?.backends.find((b) => b.metadata.name === 'blue')?.spec.endpoints ?? [];
  const owners = (s: Snapshot | null) => blue(s).map((e) => e.owner);
  expect((await coordinator.push('aws-use1', 'sig-10', report('aws-use1', 2))).ok).toBe(true);
  expect((await coordinator.push('gcp-euw1', 'sig-11', report('gcp-euw1', 2))).ok).toBe(true);
  const pushedAt = Date.now();

  // The operator removes aws-use1's key (a secret change; the object reads its bindings).
  const { 'aws-use1': _removed, ...rest } = AGENT_KEYS;
  coordinatorEnv.AGENT_KEYS = JSON.stringify(rest);

  // Within the stale timeout (1 s) the endpoints are still there.
  expect(owners((await coordinator.getSnapshot()).snapshot)).toEqual(['aws-use1', 'gcp-euw1']);
  const gone = await waitFor(async () => {
    const s = await kvSnapshot();
    return s && !owners(s).includes('aws-use1') ? s : null;
  });
  expect(Date.now() - pushedAt).toBeGreaterThanOrEqual(1000);
  // gcp-euw1 went stale (no heartbeat) but keeps its endpoint: it still has a key.
  expect(blue(gone)).toEqual([expect.objectContaining({ owner: 'gcp-euw1', stale: true })]);
  const info = await coordinator.clusters();
  expect(info.find((c) => c.cluster === 'aws-use1')).toMatchObject({
    keyConfigured: false,
    endpoints: 0,
    withdrawn: { reason: 'key-removed' },
  });
  expect(info.find((c) => c.cluster === 'gcp-euw1')).toMatchObject({ keyConfigured: true, endpoints: 1, stale: true });
});
