import { describe, expect, it } from 'vitest';
import table from './spill-table.json' with { type: 'json' };
import { pickTier, priorityLoads } from '../../../src/health/spill.js';

describe('priorityLoads (Envoy priority spill)', () => {
  for (const c of table.cases as { name: string; tiers: [number, number][]; expect: number[]; factor?: number }[]) {
    it(c.name, () => {
      const tiers = c.tiers.map(([healthyWeight, totalWeight]) => ({ healthyWeight, totalWeight }));
      const loads = priorityLoads(tiers, c.factor);
      expect(loads.map((l) => Math.round(l * 100))).toEqual(c.expect);
      const sum = loads.reduce((a, b) => a + b, 0);
      if (c.expect.some((x) => x > 0)) expect(sum).toBeCloseTo(1, 9);
      else expect(sum).toBe(0);
    });
  }

  it('returns nothing for no tiers', () => {
    expect(priorityLoads([])).toEqual([]);
  });

  it('spill is monotonic as P0 loses health', () => {
    let prev = 1;
    for (let h = 100; h >= 0; h--) {
      const [p0] = priorityLoads([
        { healthyWeight: h, totalWeight: 100 },
        { healthyWeight: 10, totalWeight: 10 },
      ]);
      expect(p0!).toBeLessThanOrEqual(prev);
      prev = p0!;
    }
    expect(prev).toBe(0);
  });
});

describe('pickTier', () => {
  it('maps rand onto the cumulative loads', () => {
    const loads = [0.7, 0.3];
    expect(pickTier(loads, () => 0)).toBe(0);
    expect(pickTier(loads, () => 0.69)).toBe(0);
    expect(pickTier(loads, () => 0.7)).toBe(1);
    expect(pickTier(loads, () => 0.9999999)).toBe(1);
  });
  it('skips zero-load tiers and returns -1 when all are zero', () => {
    expect(pickTier([0, 1, 0], () => 0)).toBe(1);
    expect(pickTier([0, 1, 0], () => 0.99)).toBe(1);
    expect(pickTier([0, 0], () => 0.5)).toBe(-1);
    expect(pickTier([], () => 0.5)).toBe(-1);
  });
  it('distributes in proportion to load', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 1000; i++) counts[pickTier([0.5, 0.3, 0.2], () => (i + 0.5) / 1000)]!++;
    expect(counts).toEqual([500, 300, 200]);
  });
});
