/**
 * The rollout state machine, pure: clock and metrics are parameters, weight changes come out as effects for the
 * Durable Object to write through the coordinator. Progressing -> (checks every interval) -> next step after its hold
 * with a passing check -> Promoted after the last step; `threshold` failed checks in a row -> Aborted (100% stable).
 * Insufficient data holds the step and neither passes nor fails it.
 */
import type { SeriesCounts } from '../metrics.js';
import type { Rollout } from '../schema/rollout.js';
import { parseDuration } from '../schema/duration.js';
import type { AnalysisRecord, EffectiveAnalysis, RolloutStatus, RolloutVerb, RolloutWeights, WeightEffect } from '../rollout.js';
import { analyze, effectiveAnalysis, statsOf } from './analysis.js';

export interface Transition {
  status: RolloutStatus;
  effect: WeightEffect | null;
}

export const weightsAt = (canary: number): RolloutWeights => ({ stable: 100 - canary, canary });
const iso = (t: number) => new Date(t).toISOString();

export function stepAnalysis(spec: Rollout['spec'], step: number): EffectiveAnalysis {
  return effectiveAnalysis(spec.analysis, spec.steps[Math.min(step, spec.steps.length - 1)]?.analysis);
}

export function start(spec: Rollout['spec'], now: number): Transition {
  const weights = weightsAt(spec.steps[0]!.weight);
  return {
    status: {
      phase: 'Progressing',
      step: 0,
      stepStartedAt: now,
      nextCheckAt: now + stepAnalysis(spec, 0).intervalMs,
      failedChecks: 0,
      passedChecks: 0,
      weights,
      lastAnalysis: null,
      message: `step 1/${spec.steps.length}: canary at ${weights.canary}%`,
      updatedAt: now,
    },
    effect: { weights, release: false },
  };
}

/** The window a check at `now` reads: the last interval, but nothing from before this step started. */
export function checkWindow(spec: Rollout['spec'], status: RolloutStatus, now: number): { from: number; to: number } {
  return { from: Math.max(status.stepStartedAt, now - stepAnalysis(spec, status.step).intervalMs), to: now };
}

/** One alarm: a check of the window's counts (when due), and what follows from it. */
export function tick(
  spec: Rollout['spec'],
  status: RolloutStatus,
  now: number,
  counts: { canary: SeriesCounts; stable: SeriesCounts },
): Transition {
  if (status.phase !== 'Progressing' || status.nextCheckAt === null || now < status.nextCheckAt) return { status, effect: null };
  const cfg = stepAnalysis(spec, status.step);
  const window = checkWindow(spec, status, now);
  const canary = statsOf(counts.canary);
  const stable = statsOf(counts.stable);
  const { verdict, reasons } = analyze(cfg, canary, stable, status.weights.stable > 0);
  const record: AnalysisRecord = {
    at: iso(now),
    step: status.step,
    window: { from: iso(window.from), to: iso(window.to) },
    verdict,
    reasons,
    canary,
    stable,
  };
  const base: RolloutStatus = { ...status, lastAnalysis: record, updatedAt: now, nextCheckAt: now + cfg.intervalMs };
  const n = spec.steps.length;
  if (verdict === 'insufficient')
    return { status: { ...base, message: `step ${status.step + 1}/${n} holds: ${reasons[0]}` }, effect: null };
  if (verdict === 'fail') {
    const failedChecks = status.failedChecks + 1;
    if (failedChecks >= cfg.threshold) return abort(base, `aborted after ${failedChecks} failed checks: ${reasons.join('; ')}`, now);
    return {
      status: {
        ...base,
        failedChecks,
        message: `step ${status.step + 1}/${n}: check failed (${failedChecks}/${cfg.threshold}): ${reasons.join('; ')}`,
      },
      effect: null,
    };
  }
  const passed: RolloutStatus = { ...base, failedChecks: 0, passedChecks: status.passedChecks + 1 };
  const hold = parseDuration(spec.steps[status.step]!.hold);
  if (now - status.stepStartedAt < hold)
    return {
      status: { ...passed, message: `step ${status.step + 1}/${n}: check passed, holding until ${iso(status.stepStartedAt + hold)}` },
      effect: null,
    };
  const next = status.step + 1;
  if (next >= n) return promote(passed, `promoted after ${n} steps`, now);
  const weights = weightsAt(spec.steps[next]!.weight);
  return {
    status: {
      ...passed,
      step: next,
      stepStartedAt: now,
      passedChecks: 0,
      nextCheckAt: now + stepAnalysis(spec, next).intervalMs,
      weights,
      message: `step ${next + 1}/${n}: canary at ${weights.canary}%`,
    },
    effect: { weights, release: false },
  };
}

function abort(status: RolloutStatus, message: string, now: number): Transition {
  const weights = weightsAt(0);
  return {
    status: { ...status, phase: 'Aborted', weights, nextCheckAt: null, message, updatedAt: now, finishedAt: now },
    effect: { weights, release: true },
  };
}

function promote(status: RolloutStatus, message: string, now: number): Transition {
  const weights = weightsAt(100);
  return {
    status: { ...status, phase: 'Promoted', weights, nextCheckAt: null, message, updatedAt: now, finishedAt: now },
    effect: { weights, release: true },
  };
}

export type VerbOutcome = { ok: true; transition: Transition } | { ok: false; error: string };

/** An operator's verb. Pause/resume only while running; abort and promote from Progressing or Paused. */
export function applyVerb(spec: Rollout['spec'], status: RolloutStatus, verb: RolloutVerb, now: number): VerbOutcome {
  const active = status.phase === 'Progressing' || status.phase === 'Paused';
  if (!active) return { ok: false, error: `rollout is ${status.phase}` };
  switch (verb) {
    case 'pause':
      if (status.phase === 'Paused') return { ok: false, error: 'rollout is already paused' };
      return {
        ok: true,
        transition: {
          status: { ...status, phase: 'Paused', nextCheckAt: null, message: 'paused by an operator', updatedAt: now },
          effect: null,
        },
      };
    case 'resume':
      if (status.phase !== 'Paused') return { ok: false, error: 'rollout is not paused' };
      return {
        ok: true,
        transition: {
          status: {
            ...status,
            phase: 'Progressing',
            nextCheckAt: now + stepAnalysis(spec, status.step).intervalMs,
            message: `resumed at step ${status.step + 1}/${spec.steps.length}`,
            updatedAt: now,
          },
          effect: null,
        },
      };
    case 'abort':
      return { ok: true, transition: abort(status, 'aborted by an operator', now) };
    case 'promote':
      return { ok: true, transition: promote(status, 'promoted by an operator (analysis skipped)', now) };
  }
}
