/** Jittered exponential backoff (pure): restarts of many agents do not synchronise and hammer the API server. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, rand: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  // "Equal jitter": at least half the ceiling so a failing watch never spins, at most the ceiling.
  return Math.round(ceiling / 2 + (rand() * ceiling) / 2);
}
