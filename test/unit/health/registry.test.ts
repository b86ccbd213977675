import { describe, expect, it } from 'vitest';
import { IsolateHealth, circuitLogLine, endpointKey } from '../../../src/health/registry.js';
import { resourceKey } from '../../../src/schema/keys.js';
import { RetryBudget } from '../../../src/health/retry.js';
import { healthPage } from '../../../src/health/page.js';
import { Backend, type BackendInput } from './backend-fixture.js';
import type { HealthSnapshot } from '../../../src/health.js';

const backend = Backend({
  metadata: { name: 'api', namespace: 'shop' },
  spec: {
    endpoints: [
      { url: 'https://use1.example.com', cluster: 'use1', region: 'us-east-1', priority: 0, weight: 1 },
      { url: 'https://usw2.example.com', cluster: 'usw2', region: 'us-west-2', priority: 0, weight: 1, readyEndpoints: 3 },
      { url: 'https://euw1.example.com', cluster: 'euw1', priority: 1, weight: 2, readyEndpoints: 0 },
      { url: 'https://aps1.example.com', cluster: 'aps1', priority: 1, weight: 2, readyEndpoints: 2, stale: true },
    ],
    healthCheck: { passive: { consecutiveFailures: 2, baseEjectionTime: '1s', maxEjectionTime: '10s', maxEjectionPercent: 50 } },
  },
} satisfies BackendInput);
type Ep = (typeof backend.spec.endpoints)[number];
const [use1, usw2, euw1, aps1] = backend.spec.endpoints as [Ep, Ep, Ep, Ep];
const k = (e: { url: string; cluster: string }) => endpointKey(backend, e);

function snap(states: Record<string, 'healthy' | 'unhealthy'>, generatedAt = 0): HealthSnapshot {
  return {
    backend: 'shop/api',
    active: true,
    generatedAt,
    endpoints: Object.entries(states).map(([key, state]) => ({
      key,
      url: key.split('|')[1]!,
      cluster: key.split('|')[2]!,
      state,
      reason: state === 'unhealthy' ? '3 consecutive failed probes' : 'ok',
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      counters: { probes: 1, failures: 0, stateChanges: 1 },
    })),
  };
}

describe('IsolateHealth', () => {
  it('builds keys and ids by the convention', () => {
    expect(resourceKey(backend)).toBe('shop/api');
    expect(k(use1)).toBe('shop/api|https://use1.example.com|use1');
  });

  it('readiness 0 makes an endpoint unusable, also when its agent is stale (staleness exempts from no check)', () => {
    const h = new IsolateHealth();
    expect(h.usable(k(usw2), usw2, backend, 0)).toBe(true);
    expect(h.verdict(k(euw1), euw1, backend, 0)).toEqual({ usable: false, trial: false, reasons: ['agent reports 0 ready endpoints'] });
    expect(h.usable(k(aps1), aps1, backend, 0)).toBe(true);
    const staleNotReady = { ...aps1, readyEndpoints: 0 };
    expect(h.verdict(k(staleNotReady), staleNotReady, backend, 0)).toEqual({
      usable: false,
      trial: false,
      reasons: ['agent reported 0 ready endpoints (stale)'],
    });
  });

  it('active unhealthy excludes; a stale snapshot is ignored (fail open to passive)', () => {
    const h = new IsolateHealth({ snapshotMaxAgeMs: 30_000 });
    h.applyActiveSnapshot(snap({ [k(use1)]: 'unhealthy', [k(usw2)]: 'healthy' }), 1000);
    expect(h.verdict(k(use1), use1, backend, 2000).reasons).toEqual(['active: 3 consecutive failed probes']);
    expect(h.usable(k(usw2), usw2, backend, 2000)).toBe(true);
    expect(h.usable(k(use1), use1, backend, 31_000)).toBe(false);
    expect(h.usable(k(use1), use1, backend, 31_001)).toBe(true);
    expect(h.snapshotAge(backend, 5000)).toBe(4000);
  });

  it('passive failures eject with the Backend config; half-open offers a trial; success restores', () => {
    const h = new IsolateHealth();
    expect(h.record(k(use1), backend, 'connect-failure', 0)).toBeNull();
    const change = h.record(k(use1), backend, 'connect-failure', 0);
    expect(change).toMatchObject({ to: 'open', until: 1000 });
    expect(h.verdict(k(use1), use1, backend, 500)).toMatchObject({ usable: false, trial: false });
    expect(h.verdict(k(use1), use1, backend, 1000)).toMatchObject({ usable: false, trial: true });
    expect(h.admit(k(use1), 1000)).toBe(true);
    expect(h.verdict(k(use1), use1, backend, 1001).trial).toBe(false);
    h.record(k(use1), backend, 'success', 1010);
    expect(h.usable(k(use1), use1, backend, 1010)).toBe(true);
    const line = JSON.parse(circuitLogLine(change!, 0, 'shop/r'));
    expect(line).toMatchObject({ event: 'health.passive.change', endpoint: k(use1), to: 'open', route: 'shop/r' });
  });

  it('no trial is offered to a half-open endpoint that another signal excludes', () => {
    const h = new IsolateHealth();
    h.record(k(euw1), backend, 'http-5xx', 0);
    h.record(k(euw1), backend, 'http-5xx', 0);
    expect(h.verdict(k(euw1), euw1, backend, 5000)).toMatchObject({ usable: false, trial: false });
  });

  it('tiers and describe() combine all signals; spill follows', () => {
    const h = new IsolateHealth({ retryBudget: new RetryBudget() });
    h.record(k(use1), backend, 'timeout', 0);
    h.record(k(use1), backend, 'timeout', 0);
    expect(h.tiers(backend, 10)).toEqual([
      { priority: 0, tier: { healthyWeight: 1, totalWeight: 2 } },
      { priority: 1, tier: { healthyWeight: 2, totalWeight: 4 } },
    ]);
    const view = h.describe(10, [backend]);
    expect(view.backends[0]!.tierLoads.map((l) => Math.round(l * 100))).toEqual([70, 30]);
    expect(view.backends[0]!.endpoints.map((e) => [e.cluster, e.usable])).toEqual([
      ['use1', false],
      ['usw2', true],
      ['euw1', false],
      ['aps1', true],
    ]);
    expect(view.backends[0]!.endpoints[0]!.passive).toMatchObject({ state: 'open', counters: { failures: 2, ejections: 1 } });
    expect(view.retryBudget).toMatchObject({ requests: 0, retries: 0 });
  });

  it('retain forgets endpoints and snapshots that left the table', () => {
    const h = new IsolateHealth();
    h.applyActiveSnapshot(snap({ [k(use1)]: 'unhealthy' }), 0);
    h.record(k(use1), backend, 'timeout', 0);
    h.retain([]);
    expect(h.outlier.describe(0)).toEqual([]);
    expect(h.snapshotAge(backend, 0)).toBeUndefined();
  });

  it('healthPage serves the view as uncached JSON', async () => {
    const h = new IsolateHealth();
    const res = healthPage(h.describe(0, [backend]));
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { backends: { backend: string }[] };
    expect(body.backends[0]!.backend).toBe('shop/api');
  });
});

describe('IsolateHealth active un-ejection', () => {
  const probed = (key: string, at: number, state: 'healthy' | 'unhealthy', failures = 0): HealthSnapshot => ({
    backend: 'shop/api',
    active: true,
    generatedAt: at,
    endpoints: [
      {
        key,
        url: use1.url,
        cluster: 'use1',
        state,
        consecutiveFailures: failures,
        consecutiveSuccesses: 1,
        lastProbe: { at, status: 200 },
        counters: { probes: 1, failures: 0, stateChanges: 1 },
      },
    ],
  });

  it('a probe that passed after the ejection closes the circuit at once', () => {
    const h = new IsolateHealth();
    h.record(k(use1), backend, 'connect-failure', 100);
    h.record(k(use1), backend, 'connect-failure', 100);
    expect(h.outlier.state(k(use1), 200)).toBe('open');
    expect(h.applyActiveSnapshot(probed(k(use1), 50, 'healthy'), 200)).toEqual([]); // probe older than the ejection
    expect(h.applyActiveSnapshot(probed(k(use1), 150, 'unhealthy'), 200)).toEqual([]);
    expect(h.applyActiveSnapshot(probed(k(use1), 150, 'healthy', 1), 200)).toEqual([]);
    const changes = h.applyActiveSnapshot(probed(k(use1), 150, 'healthy'), 200);
    expect(changes).toMatchObject([{ from: 'open', to: 'closed', reason: 'active probe passed (status 200)' }]);
    expect(h.usable(k(use1), use1, backend, 200)).toBe(true);
    // The multiplier is kept: failing again ejects for twice the base time.
    h.record(k(use1), backend, 'timeout', 300);
    expect(h.record(k(use1), backend, 'timeout', 300)).toMatchObject({ until: 2300, ejections: 2 });
  });
});

describe('stale endpoints in the health view', () => {
  it('flags endpoints of a cluster that stopped heartbeating, without taking them out of rotation', () => {
    const h = new IsolateHealth();
    const view = h.describe(0, [backend]);
    const byCluster = Object.fromEntries(view.backends[0]!.endpoints.map((e) => [e.cluster, e]));
    expect(byCluster.aps1).toMatchObject({ stale: true, usable: true });
    expect(byCluster.use1!.stale).toBeUndefined();
    // Staleness alone does not eject it; its last readiness still counts (stale with 0 ready is out).
    expect(byCluster.euw1).toMatchObject({ usable: false });
    expect(h.usable(k(aps1), aps1, backend, 0)).toBe(true);
    expect(h.usable(k(aps1), { ...aps1, readyEndpoints: 0 }, backend, 0)).toBe(false);
  });
});
