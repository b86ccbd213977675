/** Active-probe hysteresis: an endpoint changes state only after its threshold of consecutive results. */
import type { HysteresisState, ProbeResult, Thresholds, Transition } from '../health.js';

export function initialHysteresis(): HysteresisState {
  return { state: 'unknown', consecutiveSuccesses: 0, consecutiveFailures: 0 };
}

/** Why a probe counts as a failure, or null when it passed. A status outside expectedStatuses is a failure. */
export function probeFailureReason(result: ProbeResult, expectedStatuses: readonly number[]): string | null {
  if (result.error) return result.detail ? `${result.error}: ${result.detail}` : result.error;
  if (result.status === undefined) return 'no status';
  if (!expectedStatuses.includes(result.status)) return `status ${result.status} not in [${expectedStatuses.join(',')}]`;
  return null;
}

/**
 * Folds one probe result into the state. A success resets the failure count and vice versa, so a flapping
 * endpoint never reaches either threshold; counters restart after a change, so there is at most one change
 * per threshold window. The first result after 'unknown' classifies at once (as Envoy does for new hosts):
 * 'unknown' is not a state worth hysteresis, and waiting would keep a dead endpoint in rotation longer.
 */
export function observeProbe(prev: HysteresisState, result: ProbeResult, t: Thresholds): Transition {
  const failure = probeFailureReason(result, t.expectedStatuses);
  const from = prev.state;
  const successes = failure ? 0 : prev.consecutiveSuccesses + 1;
  const failures = failure ? prev.consecutiveFailures + 1 : 0;
  let to = from;
  let reason: string;
  if (failure) {
    reason = failure;
    if (from === 'unknown' || (from === 'healthy' && failures >= t.unhealthyThreshold)) {
      to = 'unhealthy';
      reason = from === 'unknown' ? `first probe failed: ${failure}` : `${failures} consecutive failed probes (last: ${failure})`;
    }
  } else {
    reason = `status ${result.status}`;
    if (from === 'unknown' || (from === 'unhealthy' && successes >= t.healthyThreshold)) {
      to = 'healthy';
      reason = from === 'unknown' ? `first probe passed (status ${result.status})` : `${successes} consecutive passed probes`;
    }
  }
  const changed = to !== from;
  const next: HysteresisState = changed
    ? { state: to, consecutiveSuccesses: 0, consecutiveFailures: 0, reason, changedAt: result.at }
    : { ...prev, consecutiveSuccesses: successes, consecutiveFailures: failures };
  return { next, changed, from, reason };
}
