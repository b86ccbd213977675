/** Pure diff between what the cluster exposes and what the edge holds for it (external-dns style plan). */
import type { ReportedEndpoint } from '../admin/api.js';
import { reportedEndpointKey as endpointKey } from '../schema/keys.js';

export type Policy = 'sync' | 'upsert-only';

export interface Plan {
  /** True when something must be sent to the edge. */
  changed: boolean;
  /** Endpoints that are new or differ from what the edge holds. */
  upserts: ReportedEndpoint[];
  /** Endpoints the edge holds that the cluster no longer exposes (withdrawn only under `sync`). */
  withdrawals: ReportedEndpoint[];
  /** The report to push: the full desired set under `sync`, only the upserts under `upsert-only`. */
  report: ReportedEndpoint[];
  /** What the edge will hold for this cluster once the report is applied. */
  next: ReportedEndpoint[];
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

const sortByKey = (list: ReportedEndpoint[]) => [...list].sort((a, b) => endpointKey(a).localeCompare(endpointKey(b)));

/**
 * `current` is what the edge holds for this cluster as far as the agent knows (what it last pushed successfully);
 * null when unknown (first run, new leader), which always produces a full report.
 */
export function plan(desired: ReportedEndpoint[], current: ReportedEndpoint[] | null, policy: Policy): Plan {
  const want = new Map(desired.map((e) => [endpointKey(e), e]));
  const have = new Map((current ?? []).map((e) => [endpointKey(e), e]));
  const upserts = sortByKey([...want].filter(([k, e]) => !have.has(k) || canonical(have.get(k)) !== canonical(e)).map(([, e]) => e));
  const withdrawals = sortByKey([...have].filter(([k]) => !want.has(k)).map(([, e]) => e));
  if (policy === 'sync') {
    const next = sortByKey(desired);
    return { changed: current === null || upserts.length > 0 || withdrawals.length > 0, upserts, withdrawals, report: next, next };
  }
  const merged = new Map(have);
  for (const e of upserts) merged.set(endpointKey(e), e);
  const next = sortByKey([...merged.values()]);
  return {
    changed: current === null || upserts.length > 0,
    upserts,
    withdrawals,
    report: current === null ? sortByKey(desired) : upserts,
    next,
  };
}
