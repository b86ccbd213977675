import { describe, expect, it } from 'vitest';
import { chooseSticky } from '../../../src/balancing/weighted.js';
import { emptyCounts, latencyBucket } from '../../../src/metrics/series.js';
import { start, tick } from '../../../src/rollout/machine.js';
import { Rollout } from '../../../src/schema/rollout.js';
import { seededRandom } from '../../support/seeded.js';

const healthy = (n: number) => {
  const c = emptyCounts();
  c.requests = n;
  c.classes[1] = n;
  c.latency[latencyBucket(20)] = n;
  return c;
};

describe('sticky sessions through a rollout', () => {
  it("move only by the weight change's share at each step, and only towards the canary", () => {
    const spec = Rollout.parse({
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'shop' },
      spec: {
        targetRef: { name: 'shop', rule: 0 },
        stableRef: { name: 'blue' },
        canaryRef: { name: 'green' },
        steps: [5, 10, 25, 50, 80].map((weight) => ({ weight, hold: '10s' })),
        analysis: { interval: '10s', minRequests: 10, maxErrorRate: 1 },
      },
    }).spec;
    // The weights the rollout writes, step by step, until it promotes.
    let t = start(spec, 0);
    const steps = [t.effect!.weights];
    for (let now = 10_000; t.status.phase === 'Progressing'; now += 10_000) {
      t = tick(spec, t.status, now, { canary: healthy(100), stable: healthy(900) });
      if (t.effect) steps.push(t.effect.weights);
    }
    expect(steps.map((w) => w.canary)).toEqual([5, 10, 25, 50, 80, 100]);

    const rand = seededRandom(12);
    const sessions = Array.from({ length: 20_000 }, () => Math.floor(rand() * 2 ** 52).toString(16));
    const place = (w: { stable: number; canary: number }) =>
      sessions.map((key) =>
        chooseSticky(
          [
            { weight: w.stable, id: 'default/blue' },
            { weight: w.canary, id: 'default/green' },
          ],
          key,
        ),
      );
    let before = place(steps[0]!);
    expect(before.filter((i) => i === 1).length / sessions.length).toBeCloseTo(0.05, 1);
    for (let i = 1; i < steps.length; i++) {
      const after = place(steps[i]!);
      const moved = after.filter((x, j) => x !== before[j]!).length / sessions.length;
      const back = after.filter((x, j) => x === 0 && before[j] === 1).length;
      const delta = (steps[i]!.canary - steps[i - 1]!.canary) / 100;
      expect(back).toBe(0);
      expect(Math.abs(moved - delta)).toBeLessThan(0.015);
      before = after;
    }
  });
});
