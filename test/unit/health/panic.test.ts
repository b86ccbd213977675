import { describe, expect, it } from 'vitest';
import { DEFAULT_PANIC_THRESHOLD, inPanic, panicLoads, someTierHealthy, type PanicPool } from '../../../src/health/panic.js';
import { OutlierDetector } from '../../../src/health/outlier.js';
import { IsolateHealth, endpointKey } from '../../../src/health/registry.js';
import { chooseEndpoint } from '../../../src/balancing/endpoint.js';
import type { HealthSnapshot } from '../../../src/health.js';
import { Backend } from './backend-fixture.js';

/** [weight, priority, usable] per endpoint. */
const pool = (...eps: [number, number, boolean][]): PanicPool => {
  const endpoints = eps.map(([weight, priority, ok]) => ({ weight, priority, ok }));
  return { endpoints, usable: (e) => (e as (typeof endpoints)[number]).ok };
};

describe('someTierHealthy (per tier, by weight)', () => {
  it.each<[string, [number, number, boolean][], number, boolean]>([
    ['one endpoint, usable', [[1, 0, true]], 50, true],
    ['one endpoint, ejected', [[1, 0, false]], 50, false],
    ['one endpoint with weight 0', [[0, 0, true]], 50, false],
    [
      'exactly at the threshold is healthy (Envoy: panic when below)',
      [
        [1, 0, true],
        [1, 0, false],
      ],
      50,
      true,
    ],
    [
      'by weight, not by count: the heavy endpoint is down',
      [
        [3, 0, false],
        [1, 0, true],
        [1, 0, true],
      ],
      50,
      false,
    ],
    [
      'one healthy tier is enough',
      [
        [1, 0, false],
        [1, 0, false],
        [1, 1, true],
      ],
      50,
      true,
    ],
    [
      'weight-0 endpoints do not count toward a tier',
      [
        [0, 0, false],
        [1, 0, true],
      ],
      100,
      true,
    ],
    [
      'higher threshold',
      [
        [1, 0, true],
        [1, 0, true],
        [1, 0, false],
      ],
      70,
      false,
    ],
  ])('%s', (_name, eps, threshold, expected) => {
    expect(someTierHealthy(pool(...eps), threshold)).toBe(expected);
  });
});

describe('inPanic', () => {
  it('uses Envoy’s default of 50%', () => {
    expect(DEFAULT_PANIC_THRESHOLD).toBe(50);
  });

  it('a single ejected endpoint panics; a healthy one does not', () => {
    expect(inPanic(pool([1, 0, false]), undefined, 50)).toBe(true);
    expect(inPanic(pool([1, 0, true]), undefined, 50)).toBe(false);
  });

  it('threshold 0 disables panic', () => {
    expect(inPanic(pool([1, 0, false]), undefined, 0)).toBe(false);
  });

  it('a Backend without weighted endpoints never panics (nothing to balance over: 503)', () => {
    expect(inPanic(pool(), undefined, 50)).toBe(false);
    expect(inPanic(pool([0, 0, false]), undefined, 50)).toBe(false);
  });

  it('below the threshold in every tier (total panic) only', () => {
    const p0DownP1Up = pool([1, 0, false], [1, 0, false], [1, 1, true]);
    expect(inPanic(p0DownP1Up, undefined, 50)).toBe(false);
    const bothLow = pool([1, 0, true], [1, 0, false], [1, 0, false], [1, 1, false], [1, 1, false]);
    expect(inPanic(bothLow, undefined, 50)).toBe(true);
  });

  it('a fallback that is healthy enough prevents panic; one that is no better off does not', () => {
    const down = pool([1, 0, false]);
    expect(inPanic(down, pool([1, 0, true]), 50)).toBe(false);
    expect(inPanic(down, pool([1, 0, true], [1, 0, false], [1, 0, false]), 50)).toBe(true);
    expect(inPanic(down, pool([1, 0, false]), 50)).toBe(true);
    expect(inPanic(down, pool(), 50)).toBe(true);
  });
});

describe('panicLoads (Envoy total panic: load by the size of each tier)', () => {
  it('shares traffic in proportion to the weight that may take it', () => {
    expect(
      panicLoads([
        { healthyWeight: 2, totalWeight: 2 },
        { healthyWeight: 3, totalWeight: 3 },
      ]),
    ).toEqual([0.4, 0.6]);
    expect(
      panicLoads([
        { healthyWeight: 0, totalWeight: 2 },
        { healthyWeight: 1, totalWeight: 3 },
      ]),
    ).toEqual([0, 1]);
    expect(panicLoads([{ healthyWeight: 0, totalWeight: 1 }])).toEqual([0]);
  });

  it('lets chooseEndpoint reach a backup tier that normal spill would not use', () => {
    const eps = [
      { url: 'https://a.example.com', cluster: 'a', priority: 0, weight: 1 },
      { url: 'https://b.example.com', cluster: 'b', priority: 1, weight: 1 },
    ];
    const seen = new Set<string>();
    for (const r of [0.1, 0.9]) {
      const choice = chooseEndpoint(eps, { usable: () => true, client: {}, rand: () => r, tierLoads: panicLoads });
      seen.add(choice!.endpoint.cluster);
    }
    expect([...seen].sort()).toEqual(['a', 'b']);
  });
});

describe('known to refuse connections', () => {
  const backend = Backend({
    metadata: { name: 'solo' },
    spec: {
      endpoints: [{ url: 'https://solo.example.com', cluster: 'solo' }],
      healthCheck: { passive: { consecutiveFailures: 2, baseEjectionTime: '30s', maxEjectionTime: '60s', maxEjectionPercent: 50 } },
    },
  });
  const ep = backend.spec.endpoints[0]!;
  const key = endpointKey(backend, ep);

  it('the outlier detector remembers the latest failure and forgets it on success', () => {
    const o = new OutlierDetector();
    expect(o.lastFailure('k')).toBeUndefined();
    o.record('k', 'http-5xx', 0);
    expect(o.lastFailure('k')).toBe('http-5xx');
    o.record('k', 'connect-failure', 1);
    expect(o.lastFailure('k')).toBe('connect-failure');
    o.record('k', 'success', 2);
    expect(o.lastFailure('k')).toBeUndefined();
  });

  it('an endpoint ejected for 5xx answers is not refusing; one ejected for connection failures is', () => {
    const h = new IsolateHealth();
    h.record(key, backend, 'http-5xx', 0);
    h.record(key, backend, 'http-5xx', 1);
    expect(h.usable(key, ep, backend, 2)).toBe(false);
    expect(h.refusing(key, backend, 2)).toBe(false);

    const r = new IsolateHealth();
    r.record(key, backend, 'connect-failure', 0);
    r.record(key, backend, 'connect-failure', 1);
    expect(r.usable(key, ep, backend, 2)).toBe(false);
    expect(r.refusing(key, backend, 2)).toBe(true);
    // Even while open, a later failure of another kind (a panic request that got a 503) is the latest news.
    r.record(key, backend, 'http-5xx', 3);
    expect(r.refusing(key, backend, 3)).toBe(false);
  });

  it('a fresh active probe refused counts; a stale snapshot does not', () => {
    const h = new IsolateHealth({ snapshotMaxAgeMs: 1000 });
    const snapshot: HealthSnapshot = {
      backend: 'default/solo',
      active: true,
      generatedAt: 0,
      endpoints: [
        {
          key,
          url: ep.url,
          cluster: ep.cluster,
          state: 'unhealthy',
          consecutiveFailures: 3,
          consecutiveSuccesses: 0,
          lastProbe: { at: 0, error: 'connect-failure' },
          counters: { probes: 3, failures: 3, stateChanges: 1 },
        },
      ],
    };
    h.applyActiveSnapshot(snapshot, 0);
    expect(h.refusing(key, backend, 500)).toBe(true);
    expect(h.refusing(key, backend, 5000)).toBe(false);
  });
});
