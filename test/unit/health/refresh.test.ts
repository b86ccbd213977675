import { describe, expect, it } from 'vitest';
import { IsolateHealth, endpointKey } from '../../../src/health/registry.js';
import { refreshActiveHealth, refreshEveryMs, type CheckerNamespace } from '../../../src/health/refresh.js';
import { Backend } from './backend-fixture.js';
import type { HealthSnapshot } from '../../../src/health.js';
import type { Backend as BackendT } from '../../../src/schema/backend.js';

const withActive = Backend({
  metadata: { name: 'a' },
  spec: { endpoints: [{ url: 'https://a.example.com', cluster: 'c1' }], healthCheck: { active: { interval: '2s', timeout: '1s' } } },
});
const passiveOnly = Backend({ metadata: { name: 'p' }, spec: { endpoints: [{ url: 'https://p.example.com', cluster: 'c1' }] } });

function fakeNs(reply: (b: BackendT) => HealthSnapshot | Error) {
  const calls: string[] = [];
  const ns: CheckerNamespace = {
    idFromName: (name: string) => ({ name }) as unknown as DurableObjectId,
    get: (id: DurableObjectId) => ({
      sync: async (b: BackendT) => {
        calls.push((id as unknown as { name: string }).name);
        const r = reply(b);
        if (r instanceof Error) throw r;
        return r;
      },
    }),
  };
  return { ns, calls };
}

const healthy = (b: BackendT, at: number): HealthSnapshot => ({
  backend: 'ignored',
  active: true,
  generatedAt: at,
  endpoints: b.spec.endpoints.map((e) => ({
    key: endpointKey(b, e),
    url: e.url,
    cluster: e.cluster,
    state: 'unhealthy',
    reason: 'down',
    consecutiveFailures: 3,
    consecutiveSuccesses: 0,
    counters: { probes: 3, failures: 3, stateChanges: 1 },
  })),
});

describe('refreshActiveHealth', () => {
  it('pulls due Backends only, single flight, and applies the snapshot', async () => {
    const h = new IsolateHealth();
    const { ns, calls } = fakeNs((b) => healthy(b, 0));
    const p = refreshActiveHealth(h, ns, [withActive, passiveOnly], 0);
    expect(p).not.toBeNull();
    expect(refreshActiveHealth(h, ns, [withActive], 0)).toBeNull(); // in flight
    await p;
    expect(calls).toEqual(['default/a']);
    expect(h.usable(endpointKey(withActive, withActive.spec.endpoints[0]!), withActive.spec.endpoints[0]!, withActive, Date.now())).toBe(
      false,
    );
    expect(refreshActiveHealth(h, ns, [withActive], h.snapshotAge(withActive, 0) === undefined ? 0 : Date.now())).toBeNull(); // fresh
    expect(refreshActiveHealth(h, ns, [withActive], Date.now() + refreshEveryMs(withActive))).not.toBeNull();
  });

  it('logs failures and keeps going; null without a namespace', async () => {
    const h = new IsolateHealth();
    const lines: Record<string, unknown>[] = [];
    const { ns } = fakeNs(() => new Error('unreachable'));
    await refreshActiveHealth(h, ns, [withActive], 0, (l) => lines.push(l));
    expect(lines).toMatchObject([{ event: 'health.refresh_failed', backend: 'default/a' }]);
    expect(refreshActiveHealth(h, undefined, [withActive], 0)).toBeNull();
  });

  it('refresh period is a quarter of the probe interval within [0.25s, 5s]', () => {
    expect(refreshEveryMs(withActive)).toBe(500);
    expect(refreshEveryMs(passiveOnly)).toBe(5000);
  });
});
