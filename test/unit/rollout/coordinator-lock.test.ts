import { describe, expect, it } from 'vitest';
import { CoordinatorState } from '../../../src/admin/state.js';

const backend = (name: string) => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Backend',
  metadata: { name },
  spec: { endpoints: [{ url: `https://${name}.example.com`, cluster: name }] },
});
const route = (stable: number, canary: number) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'shop' },
  spec: {
    rules: [
      {
        name: 'main',
        backendRefs: [
          { name: 'blue', weight: stable },
          { name: 'green', weight: canary },
        ],
      },
    ],
  },
});
const rollout = {
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'shop' },
  spec: {
    targetRef: { name: 'shop', rule: 'main' },
    stableRef: { name: 'blue' },
    canaryRef: { name: 'green' },
    steps: [{ weight: 10, hold: '1m' }],
  },
};
const step = (canary: number) => ({
  namespace: 'default',
  route: 'shop',
  rule: 0,
  backends: [
    { name: 'blue', weight: 100 - canary },
    { name: 'green', weight: canary },
  ],
});
const weights = (s: CoordinatorState) => s.snapshot()!.routes[0]!.spec.rules[0]!.backendRefs!.map((b) => b.weight);

describe('coordinator: a rollout holds its rule', () => {
  it('refuses operator weight changes and stale ETags (412 both) while it runs, and gives the rule back when it ends or is deleted', () => {
    const s = new CoordinatorState();
    const first = s.publish([backend('blue'), backend('green'), route(100, 0), rollout], '*', 1);
    expect(first.ok).toBe(true);
    const before = s.meta.version;
    expect(s.rolloutWeights('default/shop', step(10), false, 2)).toMatchObject({ ok: true });
    expect(weights(s)).toEqual([90, 10]);
    expect(s.rolloutWeights('default/other', step(50), false, 3)).toMatchObject({ ok: false, status: 404 });

    expect(
      s.setWeights({ namespace: 'default', route: 'shop', rule: 'main', backends: [{ name: 'green', weight: 100 }] }, undefined, 3),
    ).toMatchObject({
      ok: false,
      status: 412,
    });
    expect(s.publish([backend('blue'), backend('green'), route(0, 100), rollout], '*', 3)).toMatchObject({ ok: false, status: 412 });
    expect(s.publish([backend('blue'), backend('green'), route(90, 10), rollout], `"${before}"`, 3)).toMatchObject({
      ok: false,
      status: 412,
    });
    // A publish that leaves the rollout's weights alone goes through.
    expect(s.publish([backend('blue'), backend('green'), route(90, 10), rollout], '*', 4)).toMatchObject({ ok: true });
    expect(weights(s)).toEqual([90, 10]);

    // The last step releases the rule: the operator may switch again.
    expect(s.rolloutWeights('default/shop', step(0), true, 5)).toMatchObject({ ok: true });
    expect(
      s.setWeights({ namespace: 'default', route: 'shop', rule: 0, backends: [{ name: 'green', weight: 5 }] }, undefined, 6),
    ).toMatchObject({ ok: true });

    // Deleting a running Rollout releases its rule too; its object's next write is refused.
    expect(s.rolloutWeights('default/shop', step(20), false, 7)).toMatchObject({ ok: true });
    expect(s.publish([backend('blue'), backend('green'), route(50, 50)], '*', 8)).toMatchObject({ ok: true });
    expect(s.locks.size).toBe(0);
    expect(s.rolloutWeights('default/shop', step(50), false, 9)).toMatchObject({ ok: false, status: 404 });
    expect(weights(s)).toEqual([50, 50]);
  });
});
