import { describe, expect, it } from 'vitest';
import { chooseEndpoint } from '../../../src/balancing/endpoint.js';
import { chooseSticky, chooseWeighted, hashToUnit } from '../../../src/balancing/weighted.js';
import { Endpoint } from '../../../src/schema/backend.js';
import { seededRandom } from '../../support/seeded.js';

const ep = (cluster: string, extra: Record<string, unknown> = {}) =>
  Endpoint.parse({ url: `https://${cluster}.example.com`, cluster, ...extra });

describe('chooseWeighted', () => {
  it('splits by weight and never picks weight 0', () => {
    const rand = seededRandom(1);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[chooseWeighted([{ weight: 90 }, { weight: 0 }, { weight: 10 }], rand)]!++;
    expect(counts[1]).toBe(0);
    expect(counts[0]! / 20_000).toBeCloseTo(0.9, 1);
  });

  it('returns -1 when nothing has weight', () => {
    expect(chooseWeighted([{ weight: 0 }], Math.random)).toBe(-1);
    expect(chooseWeighted([{ weight: 5 }], Math.random, () => false)).toBe(-1);
  });
});

describe('chooseSticky (weighted rendezvous)', () => {
  const items = [
    { id: 'blue', weight: 3 },
    { id: 'green', weight: 1 },
    { id: 'canary', weight: 1 },
  ];

  it('gives each candidate weight/Σweight of random keys', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[chooseSticky(items, `key-${i}`)]!++;
    expect(counts[0]! / 20_000).toBeCloseTo(0.6, 1);
    expect(counts[1]! / 20_000).toBeCloseTo(0.2, 1);
  });

  it('moves only the sessions of a removed candidate', () => {
    let moved = 0;
    for (let i = 0; i < 5000; i++) {
      const before = chooseSticky(items, `k${i}`);
      const after = chooseSticky(items, `k${i}`, (j) => j !== 2);
      if (before !== 2) expect(after).toBe(before);
      else moved++;
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('hashes into the open interval (0, 1)', () => {
    for (const s of ['', 'a', 'b', 'x'.repeat(1000)]) {
      const u = hashToUnit(s);
      expect(u).toBeGreaterThan(0);
      expect(u).toBeLessThan(1);
    }
    expect(hashToUnit('a')).not.toBe(hashToUnit('b'));
  });
});

describe('chooseEndpoint', () => {
  const all = () => true;

  it('uses the lowest tier that has a usable endpoint', () => {
    const eps = [ep('p1', { priority: 1 }), ep('p0', { priority: 0 })];
    expect(chooseEndpoint(eps, { usable: all, client: {}, rand: seededRandom(2) })?.endpoint.cluster).toBe('p0');
    expect(chooseEndpoint(eps, { usable: (e) => e.cluster !== 'p0', client: {}, rand: seededRandom(2) })?.endpoint.cluster).toBe('p1');
    expect(chooseEndpoint(eps, { usable: () => false, client: {}, rand: seededRandom(2) })).toBeNull();
  });

  it('spills between tiers as the tierLoads function says', () => {
    const eps = [ep('a', { priority: 0 }), ep('b', { priority: 1 })];
    const rand = seededRandom(3);
    let b = 0;
    for (let i = 0; i < 10_000; i++)
      if (chooseEndpoint(eps, { usable: all, client: {}, rand, tierLoads: () => [0.7, 0.3] })?.endpoint.cluster === 'b') b++;
    expect(b / 10_000).toBeCloseTo(0.3, 1);
  });

  it('prefers the nearest region, falling back to weights when location is unknown', () => {
    const eps = [ep('use1', { region: 'us-east-1', weight: 9 }), ep('euw1', { region: 'eu-west-1', weight: 1 })];
    const paris = { latitude: 48.86, longitude: 2.35 };
    for (let i = 0; i < 50; i++)
      expect(chooseEndpoint(eps, { usable: all, client: paris, rand: Math.random })?.endpoint.cluster).toBe('euw1');
    for (let i = 0; i < 50; i++)
      expect(chooseEndpoint(eps, { usable: all, client: { continent: 'NA' }, rand: Math.random })?.endpoint.cluster).toBe('use1');
    const rand = seededRandom(4);
    let use1 = 0;
    for (let i = 0; i < 5000; i++) if (chooseEndpoint(eps, { usable: all, client: {}, rand })?.endpoint.cluster === 'use1') use1++;
    expect(use1 / 5000).toBeCloseTo(0.9, 1);
  });

  it('shares load between nearby regions and ignores unknown region codes', () => {
    const eps = [ep('lon', { region: 'eu-west-2' }), ep('lon-gcp', { region: 'europe-west2' }), ep('mystery', { region: 'mars-1' })];
    const seen = new Set<string>();
    const rand = seededRandom(5);
    for (let i = 0; i < 200; i++)
      seen.add(chooseEndpoint(eps, { usable: all, client: { latitude: 51.5, longitude: -0.1 }, rand })!.endpoint.cluster);
    expect([...seen].sort()).toEqual(['lon', 'lon-gcp']);
  });
});
