/**
 * Rollouts end to end in workerd: two loopback upstreams (stable "blue", canary "green"), the gateway counting traffic
 * into MetricsDO, RolloutDO's alarm analysing it and writing weights through the coordinator, the gateway reloading
 * the table. Metrics buckets and flushes are 1 s here (vitest.config.ts), analysis intervals 1-2 s.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { op, publish, rolloutOf, sleep, stack, traffic } from './rollout-support.js';

// Each test publishes only its own stack: a rollout left running would hold its rule (and make that publish a 412).
let current = '';
afterEach(async () => {
  if (current) await op(`/rollouts/default/${current}/abort`, { method: 'POST' });
});

const analysis = { interval: '2s', minRequests: 10, maxErrorRate: 5, threshold: 2 };

describe('rollout end to end', () => {
  it('aborts back to 100% stable by itself when the canary starts answering 500s (and says how long it took)', async () => {
    const steps = [{ weight: 50, hold: '60s' }];
    current = 'abort';
    expect((await publish(stack('abort', { steps, analysis }))).status).toBe(200);
    const host = 'abort.example.com';
    // Healthy traffic: the first step sends about half to the canary and its checks pass.
    let healthyChecks = 0;
    // Bounded in time, not rounds: on a busy machine a round takes longer.
    for (const until = Date.now() + 20_000; Date.now() < until && healthyChecks < 1;) {
      const round = await traffic(host, '/_status/200', 20);
      expect(round.every((r) => r.status === 200)).toBe(true);
      await sleep(100);
      const r = await rolloutOf('abort');
      if (r.lastAnalysis?.verdict === 'pass') healthyChecks++;
    }
    expect(healthyChecks).toBe(1);
    expect((await rolloutOf('abort')).weights).toEqual({ stable: 50, canary: 50 });

    // The canary breaks: every request it gets answers 500 (the stable still answers 200).
    const t0 = Date.now();
    let sawCanary500 = false;
    let abortedAt: number | null = null;
    let stableOnlyAt: number | null = null;
    for (let i = 0; i < 200 && stableOnlyAt === null; i++) {
      const round = await traffic(host, '/_status/500', 10);
      const canary = round.filter((r) => r.backend === 'default/abort-canary');
      if (canary.some((r) => r.status === 500)) sawCanary500 = true;
      if (abortedAt === null && (await rolloutOf('abort')).phase === 'Aborted') abortedAt = Date.now();
      // 100% stable from the client's side: a full round after the abort without a single canary answer.
      if (abortedAt !== null && canary.length === 0 && round.every((r) => r.status === 200)) stableOnlyAt = Date.now();
      await sleep(50);
    }
    expect(sawCanary500).toBe(true);
    expect(abortedAt).not.toBeNull();
    expect(stableOnlyAt).not.toBeNull();
    const r = await rolloutOf('abort');
    expect(r.phase).toBe('Aborted');
    expect(r.weights).toEqual({ stable: 100, canary: 0 });
    expect(r.message).toMatch(/aborted after 2 failed checks: failed: error rate/);
    console.warn(
      `[measured] canary errors -> rollout Aborted: ${abortedAt! - t0} ms; -> 100% stable at the gateway: ${stableOnlyAt! - t0} ms ` +
        `(interval 2s, threshold 2, 1 s buckets/flush)`,
    );
    // Two intervals plus flush and table propagation: well within this bound, which catches a rollout that never aborts.
    expect(stableOnlyAt! - t0).toBeLessThan(15_000);
    // The snapshot the gateway serves has the canary at 0.
    const snap = (await (await op('/snapshot')).json()) as {
      routes: { metadata: { name: string }; spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } }[];
    };
    const refs = snap.routes.find((x) => x.metadata.name === 'abort')!.spec.rules[0]!.backendRefs;
    expect(refs.map((b) => [b.name, b.weight])).toEqual([
      ['abort-stable', 100],
      ['abort-canary', 0],
    ]);
  }, 60_000);

  it('rolls back a canary answering 5% 500s within two analysis intervals after its errors start', async () => {
    current = 'partial';
    const steps = [{ weight: 50, hold: '60s' }];
    expect((await publish(stack('partial', { steps, analysis: { ...analysis, maxErrorRate: 1 } }, undefined, 'euw1'))).status).toBe(200);
    // One request in 20 asks for a 500: only the canary passes the path on, so ~5% of the canary's answers are 500s.
    const round = () =>
      Promise.all([traffic('partial.example.com', '/_status/200', 19), traffic('partial.example.com', '/_status/500', 1)]).then((r) =>
        r.flat(),
      );
    const t0 = Date.now();
    let abortedAt: number | null = null;
    let canaryErrors = 0;
    for (const until = Date.now() + 30_000; Date.now() < until && abortedAt === null;) {
      const r = await round();
      canaryErrors += r.filter((x) => x.backend === 'default/partial-canary' && x.status === 500).length;
      expect(r.filter((x) => x.backend === 'default/partial-stable').every((x) => x.status === 200)).toBe(true);
      if ((await rolloutOf('partial')).phase === 'Aborted') abortedAt = Date.now();
    }
    expect(canaryErrors).toBeGreaterThan(0);
    expect(abortedAt).not.toBeNull();
    const r = await rolloutOf('partial');
    expect(r.weights).toEqual({ stable: 100, canary: 0 });
    console.warn(`[measured] 5% canary 500s -> rollout Aborted: ${abortedAt! - t0} ms (interval 2s, threshold 2)`);
    // Two failing checks are two intervals; one more interval covers the first check landing just before the errors.
    expect(abortedAt! - t0).toBeLessThan(3 * 2000 + 2000);
  }, 60_000);

  it('promotes a healthy canary through every step, with no client errors from the step changes', async () => {
    const steps = [
      { weight: 20, hold: '2s' },
      { weight: 60, hold: '2s' },
    ];
    current = 'promote';
    expect((await publish(stack('promote', { steps, analysis: { ...analysis, minRequests: 5 } }, undefined, 'use1'))).status).toBe(200);
    const seen = new Set<string>();
    let statuses = 0;
    for (let i = 0; i < 200; i++) {
      const round = await traffic('promote.example.com', '/_status/200', 20);
      const bad = round.filter((r) => r.status !== 200);
      statuses += bad.length;
      const r = await rolloutOf('promote');
      if (r.weights) seen.add(`${r.weights.canary}`);
      if (r.phase === 'Promoted') break;
      await sleep(50);
    }
    const r = await rolloutOf('promote');
    expect(r.phase).toBe('Promoted');
    expect(r.weights).toEqual({ stable: 0, canary: 100 });
    expect([...seen]).toEqual(['20', '60', '100']);
    expect(statuses).toBe(0);
    const round = await traffic('promote.example.com', '/_status/200', 10);
    expect(round.every((x) => x.backend === 'default/promote-canary')).toBe(true);
  }, 60_000);

  it('rolls a slow canary back on latency against the stable', async () => {
    const steps = [{ weight: 50, hold: '60s' }];
    const slow = { interval: '2s', minRequests: 5, maxP99Ratio: 3, threshold: 2 };
    current = 'slow';
    expect((await publish(stack('slow', { steps, analysis: slow }, undefined, 'usw2'))).status).toBe(200);
    for (let i = 0; i < 60; i++) {
      await traffic('slow.example.com', '/_sleep/300', 8);
      if ((await rolloutOf('slow')).phase === 'Aborted') break;
    }
    const r = await rolloutOf('slow');
    expect(r.phase).toBe('Aborted');
    expect(r.message).toMatch(/x stable/);
  }, 60_000);

  it('holds the step without traffic, and never passes it', async () => {
    const steps = [
      { weight: 10, hold: '1s' },
      { weight: 50, hold: '1s' },
    ];
    current = 'idle';
    expect((await publish(stack('idle', { steps, analysis: { ...analysis, interval: '1s' } }))).status).toBe(200);
    await sleep(4000);
    const r = await rolloutOf('idle');
    expect(r.phase).toBe('Progressing');
    expect(r.step).toBe(1);
    expect(r.lastAnalysis?.verdict).toBe('insufficient');
    expect(r.message).toMatch(/holds: canary had 0 requests/);
  }, 20_000);

  it('pause/resume/abort/promote, and operator weight changes during a rollout are conflicts, not lost', async () => {
    const steps = [
      { weight: 10, hold: '60s' },
      { weight: 50, hold: '60s' },
    ];
    current = 'verbs';
    expect((await publish(stack('verbs', { steps, analysis }))).status).toBe(200);
    expect((await rolloutOf('verbs')).weights).toEqual({ stable: 90, canary: 10 });

    // The blue/green switch on a rule the rollout holds: 412, and the weights are not lost.
    const switched = await op('/weights', {
      method: 'POST',
      json: { route: 'verbs', rule: 'main', backends: [{ name: 'verbs-canary', weight: 100 }] },
    });
    expect(switched.status).toBe(412);
    expect((await rolloutOf('verbs')).weights).toEqual({ stable: 90, canary: 10 });
    // A publish that changes those weights: 412; one made from before the rollout's step (stale ETag): 412.
    const etag = (await op('/snapshot')).headers.get('etag')!;
    const changed = await op('/resources', {
      method: 'PUT',
      json: { resources: stack('verbs', { steps, analysis }, { stable: 0, canary: 100 }) },
      headers: { 'if-match': etag },
    });
    expect(changed.status).toBe(412);
    const stale = await op('/resources', { method: 'PUT', json: { resources: stack('verbs', null) }, headers: { 'if-match': '"1"' } });
    expect(stale.status).toBe(412);

    expect((await op('/rollouts/default/verbs/resume', { method: 'POST' })).status).toBe(409);
    const paused = await op('/rollouts/default/verbs/pause', { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as { phase: string }).phase).toBe('Paused');
    expect((await op('/rollouts/default/verbs/resume', { method: 'POST' })).status).toBe(200);
    const promoted = await op('/rollouts/default/verbs/promote', { method: 'POST' });
    expect(((await promoted.json()) as { phase: string; weights: unknown }).weights).toEqual({ stable: 0, canary: 100 });
    expect((await op('/rollouts/default/verbs/abort', { method: 'POST' })).status).toBe(409);
    // Released: the operator may switch again.
    const back = await op('/weights', {
      method: 'POST',
      json: { route: 'verbs', rule: 'main', backends: [{ name: 'verbs-stable', weight: 100 }] },
    });
    expect(back.status).toBe(200);

    expect((await op('/rollouts/default/nope/abort', { method: 'POST' })).status).toBe(404);
    expect((await op('/rollouts/default/verbs/explode', { method: 'POST' })).status).toBe(400);
  }, 30_000);
});
