/** The coordinator's pure state machine: staleness, ownership, policies, If-Match, history, replay memory. */
import { describe, expect, it } from 'vitest';
import type { PushBody } from '../../../src/admin/api.js';
import { CoordinatorState, HISTORY_LIMIT } from '../../../src/admin/state.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const backend = (name: string, spec: Record<string, unknown> = { clusters: { allowed: [{ name: 'east' }, { name: 'west' }] } }) => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Backend',
  metadata: { name },
  spec,
});
const push = (cluster: string, urls: string[], policy: PushBody['policy'] = 'sync', backendName = 'web'): PushBody => ({
  cluster,
  policy,
  endpoints: urls.map((u) => ({
    backend: { namespace: 'default', name: backendName },
    url: u,
    cluster,
    priority: 0,
    weight: 1,
    readyEndpoints: 2,
  })),
});
const endpoints = (s: CoordinatorState) => s.snapshot()!.backends.find((b) => b.metadata.name === 'web')!.spec.endpoints;

function seeded() {
  const s = new CoordinatorState();
  const out = s.publish([backend('web')], '*', T0);
  expect(out.ok).toBe(true);
  return s;
}

describe('CoordinatorState', () => {
  it('marks a silent cluster stale but keeps its endpoints; a heartbeat clears it', () => {
    const s = seeded();
    s.push('east', push('east', ['https://e.example.com']), T0);
    s.push('west', push('west', ['https://w.example.com']), T0 + 50_000);
    const before = s.meta.version;
    const r = s.markStale(T0 + 90_000, 90_000);
    expect(r.changed).toBe(true);
    expect(r.nextCheck).toBe(T0 + 140_000);
    expect(s.meta.version).toBe(before + 1);
    expect(endpoints(s).map((e) => [e.owner, e.stale ?? false])).toEqual([
      ['east', true],
      ['west', false],
    ]);
    expect(s.clusterInfo().find((c) => c.cluster === 'east')!.stale).toBe(true);
    s.heartbeat('east', T0 + 100_000);
    expect(endpoints(s).every((e) => !e.stale)).toBe(true);
  });

  it('refuses a cluster writing endpoints it does not own', () => {
    const s = seeded();
    const body = push('west', ['https://w.example.com']);
    expect(s.push('east', body, T0)).toMatchObject({ ok: false, status: 403 });
    expect(s.clusters.size).toBe(0);
  });

  it('sync replaces, upsert-only accumulates, identical reports do not bump the version', () => {
    const s = seeded();
    s.push('east', push('east', ['https://a.example.com', 'https://b.example.com']), T0);
    const v = s.meta.version;
    expect(s.push('east', push('east', ['https://b.example.com', 'https://a.example.com']), T0)).toMatchObject({
      ok: true,
      value: { changed: false, version: v },
    });
    s.push('east', push('east', ['https://c.example.com'], 'upsert-only'), T0);
    expect(endpoints(s).map((e) => e.url)).toEqual(['https://a.example.com', 'https://b.example.com', 'https://c.example.com']);
    s.push('east', push('east', ['https://c.example.com'], 'sync'), T0);
    expect(endpoints(s).map((e) => e.url)).toEqual(['https://c.example.com']);
  });

  it('lists reported backends nobody published as unmatched instead of serving them', () => {
    const s = seeded();
    s.push('east', push('east', ['https://x.example.com'], 'sync', 'ghost'), T0);
    expect(s.snapshot()!.backends.flatMap((b) => b.spec.endpoints)).toEqual([]);
    expect(s.clusterInfo()[0]!.unmatchedBackends).toEqual(['default/ghost']);
  });

  it('If-Match: any version since the last operator change is current; older ones conflict', () => {
    const s = seeded();
    const published = s.meta.publishedVersion;
    s.push('east', push('east', ['https://a.example.com']), T0);
    expect(s.publish([backend('web')], `"${published}"`, T0)).toMatchObject({ ok: true });
    expect(s.publish([backend('web')], `"${published}"`, T0)).toMatchObject({ ok: false, status: 412 });
    expect(s.publish([backend('web')], 'garbage', T0)).toMatchObject({ ok: false, status: 412 });
    expect(s.publish([backend('web')], undefined, T0)).toMatchObject({ ok: false, status: 428 });
  });

  it('keeps a bounded history and rolls back to any kept version', () => {
    const s = new CoordinatorState();
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) s.publish([backend(`b${i}`)], '*', T0 + i);
    expect(s.history).toHaveLength(HISTORY_LIMIT);
    expect(s.rollback(1, T0)).toMatchObject({ ok: false, status: 404 });
    expect(s.rollback(10, T0)).toMatchObject({ ok: true });
    expect(s.published.map((r) => r.metadata.name)).toEqual(['b9']);
    const writes = s.drainWrites();
    expect(writes.has('history:1')).toBe(true);
    expect(writes.get('history:1')).toBeUndefined();
  });

  it('remembers signatures for the replay window, then forgets them', () => {
    const s = new CoordinatorState();
    expect(s.useNonce('sig', T0)).toBe(true);
    expect(s.useNonce('sig', T0 + 1000)).toBe(false);
    // Still remembered at the end of the longest window a signature can verify in (±5 min skew, 1 min expiry grace).
    expect(s.useNonce('sig', T0 + 11 * 60_000 - 1)).toBe(false);
    s.expireNonces(T0 + 11 * 60_000);
    expect(s.nonces.size).toBe(0);
    expect(s.useNonce('sig', T0 + 11 * 60_000)).toBe(true);
  });
});
