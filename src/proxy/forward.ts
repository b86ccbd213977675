/** The attempt loop: one request, possibly several endpoints, bounded by per-attempt and whole-request timeouts. */
import type { DegradedCode } from './errors.js';

export type Outcome = 'success' | 'connect-failure' | 'timeout' | 'http-5xx';

export interface Target<T> {
  /** Opaque handle the caller uses to report health for this endpoint. */
  handle: T;
  /** Builds the attempt's request; the signal carries the attempt and whole-request timeouts. */
  request: (signal: AbortSignal) => Request;
}

export interface RetryPolicy {
  /** Total tries, first included. */
  attempts: number;
  /** Upstream statuses that are retried (idempotent requests only). */
  codes: readonly number[];
  backoffMs: number;
}

export interface RetryGate {
  /** Asks to spend one retry; false when retries would exceed the isolate's budget. */
  tryRetry(now: number): boolean;
}

export interface ForwardOptions<T> {
  /**
   * Next endpoint: an untried one when one exists; with `allowRepeat` (status retries) a tried one may come back,
   * since a retry to the same endpoint beats none. Null when nothing is usable.
   */
  next: (tried: readonly T[], allowRepeat: boolean) => Target<T> | null;
  report: (handle: T, outcome: Outcome, now: number) => void;
  /** Sends one attempt; `handle` is the attempt's endpoint (load accounting, Retry-After pauses). */
  fetch: (request: Request, handle: T) => Promise<Response>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  backoff: (retry: number) => number;
  /** The request can be sent again: idempotent (or Idempotency-Key) and its body, if any, was buffered. */
  replayable: boolean;
  retry: RetryPolicy;
  /** Extra tries allowed only for connection failures, which never reached the upstream's application. */
  connectRetries: number;
  budget?: RetryGate | undefined;
  /** Per-attempt timeout (timeouts.backendRequest); 0 means none ("0s" disables it). */
  backendRequestMs: number;
  /** Aborts when timeouts.request runs out. */
  deadline?: AbortSignal | undefined;
}

export interface ForwardResult<T> {
  response?: Response;
  error?: DegradedCode;
  attempts: { handle: T; outcome: Outcome | 'deadline'; status?: number; ms: number }[];
}

/** What an attempt listens to: its own timer and the whole-request deadline, either of which may be absent. */
function attemptSignal(timer: AbortSignal | undefined, deadline: AbortSignal | undefined): AbortSignal {
  if (timer && deadline) return AbortSignal.any([timer, deadline]);
  return timer ?? deadline ?? new AbortController().signal;
}

export async function forward<T>(o: ForwardOptions<T>): Promise<ForwardResult<T>> {
  const attempts: ForwardResult<T>['attempts'] = [];
  const tried: T[] = [];
  let statusRetries = 0;
  let connectRetries = 0;
  let upcoming: Target<T> | null = o.next(tried, false);
  if (!upcoming) return { error: 'no_ready_endpoint', attempts };
  for (;;) {
    const target: Target<T> = upcoming;
    upcoming = null;
    tried.push(target.handle);
    const started = o.now();
    const attemptTimer = o.backendRequestMs > 0 ? AbortSignal.timeout(o.backendRequestMs) : undefined;
    const signal = attemptSignal(attemptTimer, o.deadline);
    let response: Response;
    try {
      response = await o.fetch(target.request(signal), target.handle);
    } catch (err) {
      const ms = o.now() - started;
      if (o.deadline?.aborted) {
        attempts.push({ handle: target.handle, outcome: 'deadline', ms });
        return { error: 'request_timeout', attempts };
      }
      const timedOut = attemptTimer?.aborted === true || (err instanceof Error && err.name === 'TimeoutError');
      const outcome: Outcome = timedOut ? 'timeout' : 'connect-failure';
      attempts.push({ handle: target.handle, outcome, ms });
      o.report(target.handle, outcome, o.now());
      const failed: ForwardResult<T> = { error: timedOut ? 'upstream_timeout' : 'upstream_unreachable', attempts };
      // workerd cannot tell a refused connection from one reset after sending, so only replayable requests retry.
      if (!o.replayable) return failed;
      const connectRetry = !timedOut && connectRetries < o.connectRetries;
      const policyRetry = statusRetries + 1 < o.retry.attempts;
      if (!connectRetry && !policyRetry) return failed;
      upcoming = o.next(tried, false);
      if (!upcoming || !(o.budget?.tryRetry(o.now()) ?? true)) return failed;
      if (connectRetry) connectRetries++;
      else {
        statusRetries++;
        await o.sleep(o.backoff(statusRetries));
      }
      continue;
    }
    const ms = o.now() - started;
    const outcome: Outcome = response.status >= 500 ? 'http-5xx' : 'success';
    o.report(target.handle, outcome, o.now());
    attempts.push({ handle: target.handle, outcome, status: response.status, ms });
    if (o.replayable && o.retry.codes.includes(response.status) && statusRetries + 1 < o.retry.attempts) {
      // Look ahead first: when no endpoint is left the last upstream answer goes to the client as received.
      upcoming = o.next(tried, true);
      if (upcoming && (o.budget?.tryRetry(o.now()) ?? true)) {
        statusRetries++;
        await response.body?.cancel();
        await o.sleep(o.backoff(statusRetries));
        continue;
      }
    }
    return { response, attempts };
  }
}
