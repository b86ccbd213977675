/** IETF draft-10 RateLimit / RateLimit-Policy fields, legacy X-RateLimit-*, and the "most constraining limit". */

/** One limit's state as a client should see it. */
export interface LimitStatus {
  /** Structured-field string name, e.g. "api/1s". */
  name: string;
  /** "namespace/name" of the policy. */
  policy: string;
  requests: number;
  windowMs: number;
  remaining: number;
  /** Seconds: until the quota is whole again when remaining > 0, until one more request fits when remaining = 0. */
  resetSeconds: number;
  denied: boolean;
  legacy: boolean;
}

export const toSeconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

// sf-string: printable ASCII with " and \ escaped.
const sfString = (s: string) => `"${s.replace(/[^\x20-\x7e]/g, '?').replace(/(["\\])/g, '\\$1')}"`;

/** The limit a client hits first: a denying one with the longest wait, else the one with the least left. */
export function mostConstraining(limits: LimitStatus[]): LimitStatus | undefined {
  let best: LimitStatus | undefined;
  for (const l of limits) {
    if (!best) best = l;
    else if (l.denied !== best.denied) best = l.denied ? l : best;
    else if (l.denied) best = l.resetSeconds > best.resetSeconds ? l : best;
    else if (l.remaining !== best.remaining) best = l.remaining < best.remaining ? l : best;
    else if (l.resetSeconds > best.resetSeconds) best = l;
  }
  return best;
}

export const policyItem = (name: string, requests: number, windowMs: number) =>
  `${sfString(name)};q=${requests};w=${Math.max(1, Math.ceil(windowMs / 1000))}`;

/** Response headers for every response of a limited route (and the 429). */
export function rateLimitHeaders(policyItems: string[], limits: LimitStatus[]): [string, string][] {
  const headers: [string, string][] = [];
  if (policyItems.length) headers.push(['RateLimit-Policy', policyItems.join(', ')]);
  const top = mostConstraining(limits);
  if (!top) return headers;
  headers.push(['RateLimit', `${sfString(top.name)};r=${top.remaining};t=${top.resetSeconds}`]);
  if (limits.some((l) => l.legacy)) {
    headers.push(['X-RateLimit-Limit', String(top.requests)]);
    headers.push(['X-RateLimit-Remaining', String(top.remaining)]);
    headers.push(['X-RateLimit-Reset', String(top.resetSeconds)]);
  }
  return headers;
}

/** Limit names: the policy name alone for one limit, "policy/<window>" for several. */
export function limitNames(policyName: string, windows: string[]): string[] {
  if (windows.length === 1) return [policyName];
  const seen = new Map<string, number>();
  return windows.map((w) => {
    const base = `${policyName}/${w}`;
    const k = seen.get(base) ?? 0;
    seen.set(base, k + 1);
    return k ? `${base}#${k}` : base;
  });
}
