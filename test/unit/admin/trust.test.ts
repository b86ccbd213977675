/** Consent at the Backend: admission, namespaces, static endpoints, per-cluster quotas, fairness, cordon, withdraw, revocation. */
import { describe, expect, it } from 'vitest';
import type { PushBody, ReportedEndpoint } from '../../../src/admin/api.js';
import { CoordinatorState } from '../../../src/admin/state.js';
import { Snapshot } from '../../../src/schema/snapshot.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const STALE = 90_000;

const backend = (name: string, spec: Record<string, unknown>, namespace = 'default') => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Backend',
  metadata: { name, namespace },
  spec,
});
const ep = (cluster: string, url: string, over: Partial<ReportedEndpoint> = {}): ReportedEndpoint => ({
  backend: { namespace: 'payments', name: 'api' },
  url,
  cluster,
  priority: 0,
  weight: 1,
  readyEndpoints: 2,
  ...over,
});
const push = (cluster: string, endpoints: ReportedEndpoint[], policy: PushBody['policy'] = 'sync'): PushBody => ({
  cluster,
  policy,
  endpoints,
});

/** payments/api: one static endpoint in cluster-b; only cluster-b may report. */
function paymentsOnlyB(extra: Record<string, unknown> = {}) {
  const s = new CoordinatorState();
  const out = s.publish(
    [
      backend(
        'api',
        {
          endpoints: [{ url: 'https://b.payments.example.com', cluster: 'cluster-b', weight: 1 }],
          clusters: { allowed: [{ name: 'cluster-b' }], ...extra },
        },
        'payments',
      ),
    ],
    '*',
    T0,
  );
  expect(out.ok).toBe(true);
  return s;
}
const endpointsOf = (s: CoordinatorState, id = 'payments/api') =>
  s.snapshot()!.backends.find((b) => `${b.metadata.namespace}/${b.metadata.name}` === id)!.spec.endpoints;

describe('Backends admit clusters', () => {
  it('refuses the hijack push: a cluster the Backend does not admit changes nothing, and is told why', () => {
    const s = paymentsOnlyB();
    const before = JSON.stringify(endpointsOf(s));
    const out = s.push('cluster-a', push('cluster-a', [ep('cluster-a', 'https://evil.example.net', { weight: 1_000_000 })]), T0);
    expect(out).toMatchObject({
      ok: true,
      value: { accepted: 0, refused: [{ backend: 'payments/api', url: 'https://evil.example.net', reason: 'not-admitted' }] },
    });
    expect(JSON.stringify(endpointsOf(s))).toBe(before);
    expect(s.clusterInfo().find((c) => c.cluster === 'cluster-a')).toMatchObject({
      served: 0,
      refused: [{ backend: 'payments/api', url: 'https://evil.example.net', reason: 'not-admitted' }],
    });
  });

  it('defaults to no cluster admitted: a Backend without spec.clusters keeps only its static endpoints', () => {
    const s = new CoordinatorState();
    s.publish([backend('api', { endpoints: [{ url: 'https://static.example.com', cluster: 'x' }] }, 'payments')], '*', T0);
    const out = s.push('cluster-b', push('cluster-b', [ep('cluster-b', 'https://b2.example.com')]), T0);
    expect(out.ok && out.value.refused.map((r) => r.reason)).toEqual(['not-admitted']);
    expect(endpointsOf(s).map((e) => e.url)).toEqual(['https://static.example.com']);
  });

  it('admits the listed cluster and marks its endpoints with their owner', () => {
    const s = paymentsOnlyB();
    const out = s.push('cluster-b', push('cluster-b', [ep('cluster-b', 'https://b2.payments.example.com')]), T0);
    expect(out).toMatchObject({ ok: true, value: { accepted: 1, refused: [] } });
    expect(endpointsOf(s).map((e) => [e.url, e.owner ?? 'static'])).toEqual([
      ['https://b.payments.example.com', 'static'],
      ['https://b2.payments.example.com', 'cluster-b'],
    ]);
  });

  it('never lets an agent replace or re-weight a static endpoint, even an admitted one reporting the same URL', () => {
    const s = paymentsOnlyB();
    for (const url of ['https://b.payments.example.com', 'https://B.payments.example.com:443/']) {
      const out = s.push('cluster-b', push('cluster-b', [ep('cluster-b', url, { weight: 0, readyEndpoints: 0 })]), T0);
      expect(out.ok && out.value.refused).toEqual([{ backend: 'payments/api', url, reason: 'static-endpoint' }]);
      expect(endpointsOf(s)).toEqual([{ url: 'https://b.payments.example.com', cluster: 'cluster-b', weight: 1, priority: 0 }]);
    }
  });

  it('admits only the listed namespaces of a cluster when namespaces are given', () => {
    const s = paymentsOnlyB();
    s.publish(
      [backend('api', { endpoints: [], clusters: { allowed: [{ name: 'cluster-b', namespaces: ['payments'] }] } }, 'payments')],
      '*',
      T0,
    );
    const out = s.push(
      'cluster-b',
      push('cluster-b', [
        ep('cluster-b', 'https://ok.example.com', { sourceNamespace: 'payments' }),
        ep('cluster-b', 'https://other-ns.example.com', { sourceNamespace: 'marketing' }),
        ep('cluster-b', 'https://no-ns.example.com'),
      ]),
      T0,
    );
    expect(out.ok && out.value.refused.map((r) => [r.url, r.reason])).toEqual([
      ['https://no-ns.example.com', 'namespace-not-admitted'],
      ['https://other-ns.example.com', 'namespace-not-admitted'],
    ]);
    expect(endpointsOf(s).map((e) => e.url)).toEqual(['https://ok.example.com']);
    // The snapshot carries no agent-only fields.
    expect(Snapshot.safeParse(s.snapshot()).success).toBe(true);
  });
});

describe('quotas: no cluster crowds out another', () => {
  it('applies maxEndpointsPerCluster per cluster', () => {
    const s = new CoordinatorState();
    s.publish([backend('api', { clusters: { allowed: [{ name: 'a' }, { name: 'b' }], maxEndpointsPerCluster: 3 } }, 'payments')], '*', T0);
    const many = (c: string, n: number) =>
      Array.from({ length: n }, (_, i) => ep(c, `https://${c}${String(i).padStart(3, '0')}.example.com`));
    const a = s.push('a', push('a', many('a', 50)), T0);
    const b = s.push('b', push('b', many('b', 2)), T0);
    expect(a.ok && [a.value.accepted, a.value.refused.length, a.value.refused[0]!.reason]).toEqual([3, 47, 'over-cap']);
    expect(b.ok && [b.value.accepted, b.value.refused.length]).toEqual([2, 0]);
    const owners = endpointsOf(s).map((e) => e.owner);
    expect(owners.filter((o) => o === 'a')).toHaveLength(3);
    expect(owners.filter((o) => o === 'b')).toHaveLength(2);
  });

  it('shares the 256 places of a Backend in turns, so a cluster that pushes first cannot fill it', () => {
    const s = new CoordinatorState();
    const allowed = ['a', 'b', 'c'].map((name) => ({ name }));
    const statics = Array.from({ length: 56 }, (_, i) => ({ url: `https://static${i}.example.com`, cluster: 'static' }));
    s.publish([backend('api', { endpoints: statics, clusters: { allowed, maxEndpointsPerCluster: 256 } }, 'payments')], '*', T0);
    const many = (c: string, n: number) =>
      Array.from({ length: n }, (_, i) => ep(c, `https://${c}${String(i).padStart(3, '0')}.example.com`));
    s.push('a', push('a', many('a', 256)), T0);
    s.push('b', push('b', many('b', 256)), T0);
    s.push('c', push('c', many('c', 10)), T0);
    const list = endpointsOf(s);
    expect(list).toHaveLength(256);
    const count = (o: string | undefined) => list.filter((e) => e.owner === o).length;
    // 200 places left after the 56 static ones: c takes all 10 of its own, a and b share the rest equally.
    expect([count(undefined), count('a'), count('b'), count('c')]).toEqual([56, 95, 95, 10]);
    const info = s.clusterInfo();
    expect(info.find((c) => c.cluster === 'a')!.refused.every((r) => r.reason === 'backend-full')).toBe(true);
    expect(info.find((c) => c.cluster === 'c')!.refused).toEqual([]);
  });

  it('serves a URL once: a second cluster reporting it is refused as a duplicate', () => {
    const s = new CoordinatorState();
    s.publish([backend('api', { clusters: { allowed: [{ name: 'a' }, { name: 'b' }] } }, 'payments')], '*', T0);
    s.push('a', push('a', [ep('a', 'https://shared.example.com')]), T0);
    const b = s.push('b', push('b', [ep('b', 'https://shared.example.com')]), T0);
    expect(b.ok && b.value.refused.map((r) => r.reason)).toEqual(['duplicate-url']);
    expect(endpointsOf(s).map((e) => e.owner)).toEqual(['a']);
  });
});

describe('bounded storage', () => {
  it('refuses an upsert-only report that would make one cluster hold more than 4096 endpoints', () => {
    const s = paymentsOnlyB();
    const batch = (from: number) => Array.from({ length: 4000 }, (_, i) => ep('cluster-b', `https://b${from + i}.example.com`));
    expect(s.push('cluster-b', push('cluster-b', batch(0), 'upsert-only'), T0).ok).toBe(true);
    expect(s.push('cluster-b', push('cluster-b', batch(4000), 'upsert-only'), T0)).toMatchObject({ ok: false, status: 400 });
    expect(s.clusters.get('cluster-b')!.endpoints).toHaveLength(4000);
  });
});

describe('cluster lifecycle', () => {
  it('cordon: what the cluster holds keeps serving and may change readiness; new endpoints are refused', () => {
    const s = paymentsOnlyB();
    s.push('cluster-b', push('cluster-b', [ep('cluster-b', 'https://b2.example.com')]), T0);
    s.cordon('cluster-b');
    const out = s.push(
      'cluster-b',
      push('cluster-b', [ep('cluster-b', 'https://b2.example.com', { readyEndpoints: 0 }), ep('cluster-b', 'https://b3.example.com')]),
      T0 + 1000,
    );
    expect(out.ok && out.value.refused).toEqual([{ backend: 'payments/api', url: 'https://b3.example.com', reason: 'cordoned' }]);
    expect(endpointsOf(s).map((e) => [e.url, e.readyEndpoints])).toEqual([
      ['https://b.payments.example.com', undefined],
      ['https://b2.example.com', 0],
    ]);
    expect(s.clusterInfo()[0]).toMatchObject({ cluster: 'cluster-b', cordoned: true, refused: [{ reason: 'cordoned' }] });
    expect(s.uncordon('cluster-b')).toBe(true);
    s.push(
      'cluster-b',
      push('cluster-b', [ep('cluster-b', 'https://b2.example.com'), ep('cluster-b', 'https://b3.example.com')]),
      T0 + 2000,
    );
    expect(endpointsOf(s).map((e) => e.url)).toContain('https://b3.example.com');
    expect(s.uncordon('never-seen')).toBe(false);
  });

  it('withdraw: removes every endpoint of the cluster now and keeps it out until uncordoned', () => {
    const s = paymentsOnlyB();
    s.push('cluster-b', push('cluster-b', [ep('cluster-b', 'https://b2.example.com')]), T0);
    const v = s.meta.version;
    const out = s.withdraw('cluster-b', T0 + 1000);
    expect(out).toEqual({ version: v + 1, withdrawn: 1 });
    expect(endpointsOf(s).map((e) => e.url)).toEqual(['https://b.payments.example.com']);
    const again = s.push('cluster-b', push('cluster-b', [ep('cluster-b', 'https://b2.example.com')]), T0 + 2000);
    expect(again.ok && again.value.refused.map((r) => r.reason)).toEqual(['cordoned']);
    expect(s.clusterInfo()[0]).toMatchObject({ withdrawn: { reason: 'operator' }, cordoned: true, endpoints: 0 });
  });

  it('revocation: a cluster whose key left AGENT_KEYS loses its endpoints after the stale timeout, not before', () => {
    const s = paymentsOnlyB();
    s.publish([backend('api', { clusters: { allowed: [{ name: 'cluster-b' }, { name: 'cluster-c' }] } }, 'payments')], '*', T0);
    s.push('cluster-b', push('cluster-b', [ep('cluster-b', 'https://b2.example.com')]), T0);
    s.push('cluster-c', push('cluster-c', [ep('cluster-c', 'https://c2.example.com')]), T0);
    const known = new Set(['cluster-c']); // cluster-b's key was removed
    expect(s.revokeDue(known, STALE)).toBe(T0 + STALE);
    expect(s.withdrawRevoked(T0 + STALE - 1, known, STALE)).toBe(false);
    expect(endpointsOf(s).map((e) => e.owner)).toEqual(['cluster-b', 'cluster-c']);
    expect(s.withdrawRevoked(T0 + STALE, known, STALE)).toBe(true);
    expect(endpointsOf(s).map((e) => e.owner)).toEqual(['cluster-c']);
    expect(s.clusterInfo(known).find((c) => c.cluster === 'cluster-b')).toMatchObject({
      keyConfigured: false,
      endpoints: 0,
      withdrawn: { reason: 'key-removed' },
    });
    expect(s.revokeDue(known, STALE)).toBeNull();
    // An unreadable key set revokes nothing.
    expect(s.withdrawRevoked(T0 + 10 * STALE, null, STALE)).toBe(false);
    expect(endpointsOf(s).map((e) => e.owner)).toEqual(['cluster-c']);
  });
});
