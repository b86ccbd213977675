/** Staleness through the coordinator's alarm: a silent cluster keeps its endpoints, marked stale, in KV too. */
import { env } from 'cloudflare:test';
import { afterAll, expect, it } from 'vitest';
import { Coordinator } from '../../src/admin/coordinator.js';
import type { AdminEnv } from '../../src/admin/env.js';
import { KV_POINTER_KEY, Snapshot, SnapshotPointer } from '../../src/schema.js';
import { memoryState } from '../unit/admin/support/memory-do.js';
import { report, resources } from '../unit/admin/support/harness.js';

// Always the in-memory state here (not the COORDINATOR binding), so the stale timeout can be 1 s.
const mem = memoryState();
const coordinator = new Coordinator(mem.ctx, { ...(env as unknown as AdminEnv), AGENT_STALE_SECONDS: '1' });
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
