/** Gateway API duration strings ("1h30m", "250ms") and their conversion to milliseconds. */
import { z } from 'zod';

// GEP-2257: up to four number+unit pairs, units h/m/s/ms, each number at most five digits.
const DURATION_RE = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** Milliseconds; NaN for a string that is not a duration, so comparisons with it never hold. */
export function parseDuration(value: string): number {
  if (!DURATION_RE.test(value)) return NaN;
  let total = 0;
  for (const [, n, unit] of value.matchAll(/([0-9]+)(ms|h|m|s)/g)) total += Number(n) * UNIT_MS[unit!]!;
  return total;
}

export const Duration = z
  .string()
  .regex(DURATION_RE, 'must be a Gateway API duration such as "500ms", "10s" or "1h30m"')
  .describe('Gateway API duration, e.g. "500ms", "10s", "1h30m". "0s" disables where allowed.');
