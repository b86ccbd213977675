/**
 * RolloutDO: one object per Rollout ("namespace/name"). Its alarm runs the pure machine (src/rollout/machine.ts) over
 * the route's metrics (MetricsDO) and writes each weight change through the coordinator, the single writer (a new
 * table version per step). The coordinator holds the rule for the rollout, so an operator's weight change is a 409.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import type { RolloutStatus, RolloutVerb, WeightEffect } from '../rollout.js';
import type { HTTPRoute } from '../schema/httproute.js';
import { refKey, resourceKey } from '../schema/keys.js';
import type { Rollout } from '../schema/rollout.js';
import { COORDINATOR_NAME } from '../admin/env.js';
import { metricsObject } from '../metrics/sink.js';
import { emptyCounts, addCounts } from '../metrics/series.js';
import { applyVerb, checkWindow, start, stepAnalysis, tick, type Transition } from './machine.js';

/** A failed weight write (coordinator unreachable) is retried this soon. */
export const RETRY_MS = 1000;

/** The rule a rollout moves, resolved once from the published HTTPRoute. */
export interface RolloutTarget {
  namespace: string;
  route: string;
  /** "namespace/name" of the route (the MetricsDO's name). */
  routeKey: string;
  ruleIndex: number;
  /** The rule as metrics label it: its name, or "rule<index>". */
  ruleLabel: string;
  stable: { name: string; namespace: string; key: string };
  canary: { name: string; namespace: string; key: string };
}

/** What GET /rollouts shows of one rollout. */
export interface RolloutView {
  name: string;
  namespace: string;
  target: { route: string; rule: string } | null;
  stable: string;
  canary: string;
  phase: RolloutStatus['phase'] | 'Pending';
  /** 1-based step, and how many there are. */
  step: number;
  steps: number;
  weights: RolloutStatus['weights'] | null;
  failedChecks: number;
  threshold: number;
  lastAnalysis: RolloutStatus['lastAnalysis'];
  message: string;
  updatedAt: string | null;
  nextCheckAt: string | null;
}

export type VerbResult = { ok: true; rollout: RolloutView } | { ok: false; status: 404 | 409 | 503; error: string };

const log = (line: Record<string, unknown>) => console.log(JSON.stringify({ at: new Date().toISOString(), ...line }));

/** Resolves a Rollout's target in the published HTTPRoutes, or says why it cannot. */
export function resolveTarget(rollout: Rollout, routes: readonly HTTPRoute[]): RolloutTarget | string {
  const ns = rollout.metadata.namespace;
  const spec = rollout.spec;
  const route = routes.find((r) => r.metadata.namespace === ns && r.metadata.name === spec.targetRef.name);
  if (!route) return `HTTPRoute ${ns}/${spec.targetRef.name} is not published`;
  const i =
    typeof spec.targetRef.rule === 'number' ? spec.targetRef.rule : route.spec.rules.findIndex((r) => r.name === spec.targetRef.rule);
  const rule = route.spec.rules[i];
  if (i < 0 || !rule) return `HTTPRoute ${ns}/${spec.targetRef.name} has no rule ${JSON.stringify(spec.targetRef.rule)}`;
  const refs = rule.backendRefs ?? [];
  const side = (ref: { name: string; namespace?: string | undefined }, what: string) => {
    const key = refKey(ref, ns);
    return refs.some((r) => refKey(r, ns) === key)
      ? { name: ref.name, namespace: ref.namespace ?? ns, key }
      : `${what} ${key} is not a backendRef of the rule`;
  };
  const stable = side(spec.stableRef, 'stableRef');
  const canary = side(spec.canaryRef, 'canaryRef');
  if (typeof stable === 'string') return stable;
  if (typeof canary === 'string') return canary;
  return {
    namespace: ns,
    route: route.metadata.name,
    routeKey: resourceKey(route),
    ruleIndex: i,
    ruleLabel: rule.name ?? `rule${i}`,
    stable,
    canary,
  };
}

export class RolloutDO extends DurableObject<Env> {
  private rollout: Rollout | undefined;
  private generation: string | undefined;
  private target: RolloutTarget | undefined;
  private status: RolloutStatus | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const got = await ctx.storage.get<unknown>(['rollout', 'generation', 'target', 'status']);
      this.rollout = got.get('rollout') as Rollout | undefined;
      this.generation = got.get('generation') as string | undefined;
      this.target = got.get('target') as RolloutTarget | undefined;
      this.status = got.get('status') as RolloutStatus | undefined;
    });
  }

  private get key() {
    return this.rollout ? resourceKey(this.rollout) : '';
  }

  private coordinator() {
    const ns = this.env.COORDINATOR;
    return ns.get(ns.idFromName(COORDINATOR_NAME));
  }

  private async save() {
    await this.ctx.storage.put({ rollout: this.rollout, generation: this.generation, target: this.target, status: this.status });
    const next = this.status?.phase === 'Progressing' ? this.status.nextCheckAt : null;
    if (next !== null) await this.ctx.storage.setAlarm(next);
    else await this.ctx.storage.deleteAlarm();
  }

  /** Writes the effect's weights through the coordinator: ok, permanently refused (4xx), or worth retrying. */
  private async write(effect: WeightEffect): Promise<{ ok: true } | { ok: false; retry: boolean; error: string }> {
    const t = this.target!;
    try {
      const out = await this.coordinator().rolloutWeights(
        this.key,
        {
          namespace: t.namespace,
          route: t.route,
          rule: t.ruleIndex,
          backends: [
            { name: t.stable.name, namespace: t.stable.namespace, weight: effect.weights.stable },
            { name: t.canary.name, namespace: t.canary.namespace, weight: effect.weights.canary },
          ],
        },
        effect.release,
      );
      return out.ok ? { ok: true } : { ok: false, retry: false, error: `coordinator refused the weights (${out.status}): ${out.error}` };
    } catch (err) {
      return { ok: false, retry: true, error: `coordinator unreachable: ${String(err)}` };
    }
  }

  private failed(message: string, now: number): RolloutStatus {
    return {
      phase: 'Failed',
      step: this.status?.step ?? 0,
      stepStartedAt: this.status?.stepStartedAt ?? now,
      nextCheckAt: null,
      failedChecks: this.status?.failedChecks ?? 0,
      passedChecks: 0,
      weights: this.status?.weights ?? { stable: 100, canary: 0 },
      lastAnalysis: this.status?.lastAnalysis ?? null,
      message,
      updatedAt: now,
      finishedAt: now,
    };
  }

  /** Applies a transition: its weights first; the new status only once they are written. */
  private async commit(t: Transition, now: number): Promise<{ ok: true } | { ok: false; error: string; retry: boolean }> {
    if (t.effect) {
      const w = await this.write(t.effect);
      if (!w.ok) {
        if (w.retry && this.status) this.status = { ...this.status, nextCheckAt: now + RETRY_MS, message: w.error, updatedAt: now };
        else {
          this.status = this.failed(w.error, now);
          await this.coordinator()
            .releaseRollout(this.key)
            .catch(() => undefined);
        }
        await this.save();
        log({ level: 'error', event: 'rollout.write_failed', rollout: this.key, error: w.error });
        return w;
      }
    }
    const before = this.status?.phase;
    this.status = t.status;
    await this.save();
    if (t.effect || before !== t.status.phase)
      log({
        level: t.status.phase === 'Aborted' ? 'warn' : 'info',
        event: `rollout.${t.status.phase.toLowerCase()}`,
        rollout: this.key,
        step: t.status.step,
        weights: t.status.weights,
        message: t.status.message,
      });
    return { ok: true };
  }

  /** The published Rollout: starts it when new or changed (a changed spec starts over from step 1). */
  async apply(rollout: Rollout): Promise<RolloutView> {
    const generation = JSON.stringify(rollout.spec);
    if (this.generation === generation && this.status) return this.view();
    const now = Date.now();
    this.rollout = rollout;
    this.generation = generation;
    const routes = (await this.coordinator().published('HTTPRoute')) as HTTPRoute[];
    const target = resolveTarget(rollout, routes);
    if (typeof target === 'string') {
      this.target = undefined;
      this.status = this.failed(target, now);
      await this.coordinator()
        .releaseRollout(this.key)
        .catch(() => undefined);
      await this.save();
      return this.view();
    }
    this.target = target;
    this.status = undefined;
    await this.commit(start(rollout.spec, now), now);
    return this.view();
  }

  override async alarm(): Promise<void> {
    try {
      const { rollout, status, target } = this;
      if (!rollout || !target || status?.phase !== 'Progressing' || status.nextCheckAt === null) return;
      const now = Date.now();
      if (now < status.nextCheckAt) return;
      const win = checkWindow(rollout.spec, status, now);
      const rows = await metricsObject(this.env.METRICS, target.routeKey).counts({ ...win, rule: target.ruleLabel });
      const canary = emptyCounts();
      const stable = emptyCounts();
      for (const r of rows) {
        if (r.backend === target.canary.key) addCounts(canary, r.counts);
        else if (r.backend === target.stable.key) addCounts(stable, r.counts);
      }
      await this.commit(tick(rollout.spec, status, now, { canary, stable }), now);
    } catch (err) {
      log({ level: 'error', event: 'rollout.alarm_failed', rollout: this.key, error: String(err) });
      if (this.status?.phase === 'Progressing') this.status = { ...this.status, nextCheckAt: Date.now() + RETRY_MS };
    } finally {
      // Alarms do not repeat: the next check of a progressing rollout is armed whatever happened above.
      const next = this.status?.phase === 'Progressing' ? this.status.nextCheckAt : null;
      if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, Date.now()));
    }
  }

  async verb(verb: RolloutVerb): Promise<VerbResult> {
    if (!this.rollout || !this.status) return { ok: false, status: 404, error: 'rollout not started' };
    const now = Date.now();
    const out = applyVerb(this.rollout.spec, this.status, verb, now);
    if (!out.ok) return { ok: false, status: 409, error: out.error };
    const done = await this.commit(out.transition, now);
    if (!done.ok) return { ok: false, status: done.retry ? 503 : 409, error: done.error };
    return { ok: true, rollout: await this.view() };
  }

  async view(): Promise<RolloutView> {
    const r = this.rollout;
    const s = this.status;
    const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString());
    return {
      name: r?.metadata.name ?? '',
      namespace: r?.metadata.namespace ?? '',
      target: r
        ? { route: `${r.metadata.namespace}/${r.spec.targetRef.name}`, rule: String(this.target?.ruleLabel ?? r.spec.targetRef.rule) }
        : null,
      stable: this.target?.stable.key ?? '',
      canary: this.target?.canary.key ?? '',
      phase: s?.phase ?? 'Pending',
      step: s ? Math.min(s.step, (r?.spec.steps.length ?? 1) - 1) + 1 : 0,
      steps: r?.spec.steps.length ?? 0,
      weights: s?.weights ?? null,
      failedChecks: s?.failedChecks ?? 0,
      threshold: r && s ? stepAnalysis(r.spec, s.step).threshold : 0,
      lastAnalysis: s?.lastAnalysis ?? null,
      message: s?.message ?? 'not started',
      updatedAt: iso(s?.updatedAt),
      nextCheckAt: iso(s?.nextCheckAt),
    };
  }
}
