/** Rollouts: a rule's traffic moved from stable to canary in analysed steps. Types only. */

export type RolloutPhase = 'Progressing' | 'Paused' | 'Aborted' | 'Promoted' | 'Failed';
export type RolloutVerb = 'pause' | 'resume' | 'abort' | 'promote';

/** What one backendRef did in a check's window (all clusters together). */
export interface WindowStats {
  requests: number;
  /** 5xx answers, gateway errors (connect failure, timeout) included. */
  failures: number;
  /** failures / requests, 0..1 (0 without requests). */
  errorRate: number;
  /** P99 in ms (interpolated from the histogram); null without requests. */
  p99Ms: number | null;
}

export type Verdict = 'pass' | 'fail' | 'insufficient';

/** One check: its window, what both sides did, and why it came out as it did. */
export interface AnalysisRecord {
  at: string;
  step: number;
  window: { from: string; to: string };
  verdict: Verdict;
  reasons: string[];
  canary: WindowStats;
  stable: WindowStats;
}

/** Thresholds of one step's checks, in numbers (spec.analysis with the step's overrides applied). */
export interface EffectiveAnalysis {
  intervalMs: number;
  minRequests: number;
  /** 0..1 */
  maxErrorRate: number | undefined;
  /** 0..1, over the stable's rate */
  maxErrorRateIncrease: number | undefined;
  maxP99Ms: number | undefined;
  maxP99Ratio: number | undefined;
  threshold: number;
}

/** Canary weight in % of the stable+canary weight; stable gets the rest. */
export interface RolloutWeights {
  stable: number;
  canary: number;
}

export interface RolloutStatus {
  phase: RolloutPhase;
  /** Index into spec.steps (steps.length once promoted). */
  step: number;
  stepStartedAt: number;
  /** When the alarm checks next (null: not progressing). */
  nextCheckAt: number | null;
  /** Failed checks in a row. */
  failedChecks: number;
  /** Passing checks in this step. */
  passedChecks: number;
  weights: RolloutWeights;
  lastAnalysis: AnalysisRecord | null;
  /** Why the rollout is where it is, in a sentence. */
  message: string;
  updatedAt: number;
  /** Set when the rollout reached Aborted or Promoted. */
  finishedAt?: number | undefined;
}

/** A weight change the machine asks for; `release` ends the rollout's hold on the rule. */
export interface WeightEffect {
  weights: RolloutWeights;
  release: boolean;
}
