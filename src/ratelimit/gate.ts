/** The request-path gate: keys, lease-backed limiter calls within a budget, failOpen, 429/401/503 and the RateLimit headers. */
import type { AdmittedReport, CompiledPolicy, LeaseReturn, LimitView, RateLimiterNamespaceLike } from '../ratelimit.js';
import { policyItem, rateLimitHeaders, toSeconds, mostConstraining, type LimitStatus } from './headers.js';
import { deriveKey } from './keys.js';
import { LeaseTable, LimiterUnavailable, type TakeResult } from './lease.js';

export { compilePolicies } from './compile.js';

export interface EnforceArgs {
  policies: CompiledPolicy[];
  request: Request;
  routeKey: string;
  ruleName?: string;
  /** The security stage's principal, for Consumer keys. */
  principal?: string | undefined;
  namespace: RateLimiterNamespaceLike;
  ctx: { waitUntil(p: Promise<unknown>): void };
  now: number;
  log?: (line: object) => void;
  /**
   * Total time a request may wait on the limiter (queued behind the call in flight for its key, then its own batch)
   * before failOpen applies (default DEFAULT_BUDGET_MS, 1500 ms).
   */
  timeoutMs?: number;
  /** Per-isolate lease table (default: one shared by the isolate). */
  leases?: LeaseTable;
  /** Put in every refusal body, so a client can quote it and an operator find the log line. */
  requestId?: string;
  /** Refusal bodies name the route and policy only with debug on (DEBUG_HEADERS): they are internal names. */
  debug?: boolean;
}

export interface EnforceResult {
  denied?: Response;
  headers: [string, string][];
}

/** One table per isolate: leases are what make a hot key cheap. */
const isolateLeases = new LeaseTable();

/**
 * Longest a request waits on the limiter (queued behind the call in flight for its key, then its own call) before
 * failOpen decides. Generous on purpose: a cold object in a far colo takes hundreds of milliseconds, and failing open
 * early lets a burst at a new key through. What is let through is still counted (see LimiterUnavailable).
 */
export const DEFAULT_BUDGET_MS = 1500;

const json = (status: number, body: object, headers: [string, string][] = []) =>
  new Response(JSON.stringify(body), { status, headers: [['content-type', 'application/json'], ...headers] });

async function sha256(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * Durable Object name: policy + key. The key is hashed so API keys and cookies never appear in object names or logs.
 * A policy that reached the rule through sectionName gets per-rule counters.
 */
export async function objectName(p: CompiledPolicy, routeKey: string, key: string): Promise<string> {
  const plain = plainName(p, routeKey, key);
  let name = names.get(plain);
  if (name === undefined) {
    name = `${p.id}|${await sha256(plain.slice(p.id.length + 1))}`;
    if (names.size >= 10_000) names.clear();
    names.set(plain, name);
  }
  return name;
}

/** The unhashed name: the cache key of `names`. */
const plainName = (p: CompiledPolicy, routeKey: string, key: string) => `${p.id}|${p.section ? `${routeKey}#${p.section}` : ''}\n${key}`;

/** Hashing every request costs more than the rest of the fast path: keep recent names per isolate. */
const names = new Map<string, string>();

/** The RateLimit-Policy items of a rule's policies: fixed per table version, so built once per policy list. */
const policyItemsOf = new WeakMap<readonly CompiledPolicy[], string[]>();
function policyItems(policies: readonly CompiledPolicy[]): string[] {
  let items = policyItemsOf.get(policies);
  if (!items) {
    items = policies.flatMap((p) => p.config.limits.map((l, i) => policyItem(p.limitNames[i] ?? p.id, l.requests, l.windowMs)));
    policyItemsOf.set(policies, items);
  }
  return items;
}

function statuses(p: CompiledPolicy, r: TakeResult): LimitStatus[] {
  const out = r.limits.map((v: LimitView, i): LimitStatus => ({
    name: p.limitNames[i] ?? p.id,
    policy: p.id,
    requests: v.requests,
    windowMs: v.windowMs,
    remaining: v.remaining,
    resetSeconds: toSeconds(v.remaining > 0 ? v.resetMs : v.freeMs),
    denied: !r.allowed && v.remaining < 1,
    legacy: p.legacyHeaders,
  }));
  if (!r.allowed) {
    // A denial always names at least one limit, waiting at least as long as the denial says.
    const denying = out.filter((s) => s.denied);
    const targets = denying.length ? denying : out.slice(0, 1);
    for (const s of targets) {
      s.denied = true;
      s.remaining = 0;
      s.resetSeconds = Math.max(s.resetSeconds, toSeconds(r.retryMs));
    }
  }
  return out;
}

type Outcome = { p: CompiledPolicy; r: TakeResult } | { p: CompiledPolicy; err: unknown };

/**
 * Applies the rule's policies. Answers synchronously when every policy was settled from this isolate's leases (the
 * common case for a hot key: no promise at all); a promise when a key must be hashed or the object asked.
 */
export function enforce(args: EnforceArgs): EnforceResult | Promise<EnforceResult> {
  const { policies, request, routeKey, namespace, ctx, now } = args;
  if (!policies.length) return { headers: [] };
  const log = args.log ?? ((line: object) => console.log(JSON.stringify(line)));
  const leases = args.leases ?? isolateLeases;
  const budgetMs = args.timeoutMs ?? DEFAULT_BUDGET_MS;
  const waitUntil = (p: Promise<unknown>) => ctx.waitUntil(p);
  const refusalFields = (policy: string) => ({
    ...(args.debug ? { route: routeKey, policy } : {}),
    ...(args.requestId ? { requestId: args.requestId } : {}),
  });

  const jobs: { p: CompiledPolicy; key: string }[] = [];
  for (const p of policies) {
    const k = deriveKey(p.keys, request.headers, routeKey, p.section, p.clientIP, args.principal);
    if (k.missing && p.missingKey === 'Deny')
      return {
        denied: json(401, { error: 'missing_rate_limit_key', missing: k.missing, ...refusalFields(p.id) }),
        headers: [],
      };
    jobs.push({ p, key: k.key });
  }

  const releaser = (p: CompiledPolicy, name: string) => {
    const stub = () => namespace.get(namespace.idFromName(name));
    return (returns: LeaseReturn[], admitted?: AdmittedReport[]) => {
      const sent = Promise.resolve().then(() =>
        admitted ? stub().release(p.config, returns, admitted) : stub().release(p.config, returns),
      );
      waitUntil(sent.catch(() => undefined));
      return sent;
    };
  };
  // Most requests of a hot key end in the first loop: a known object name and a leased permit, no I/O, no timer and
  // no promise. The rest hash their key and/or ask the object, all policies at once.
  const outcomes: Outcome[] = new Array<Outcome>(jobs.length);
  let slow: Promise<void>[] | undefined;
  jobs.forEach(({ p, key }, i) => {
    const known = names.get(plainName(p, routeKey, key));
    if (known !== undefined) {
      try {
        const local = leases.tryLocal(known, p.config, now, releaser(p, known));
        if (local) {
          outcomes[i] = { p, r: local };
          return;
        }
      } catch (err) {
        outcomes[i] = { p, err };
        return;
      }
    }
    (slow ??= []).push(
      (async () => {
        try {
          const name = known ?? (await objectName(p, routeKey, key));
          const release = releaser(p, name);
          // A known name already missed its lease in the first loop; only a freshly hashed one may find one now.
          const local = known === undefined ? leases.tryLocal(name, p.config, now, release) : undefined;
          outcomes[i] = local
            ? { p, r: local }
            : {
                p,
                r: await leases.acquire(
                  name,
                  p.config,
                  now,
                  (req) => namespace.get(namespace.idFromName(name)).acquire(req),
                  release,
                  budgetMs,
                ),
              };
        } catch (err) {
          outcomes[i] = { p, err };
        }
      })(),
    );
  });
  const done = () => conclude(args, outcomes, log, waitUntil, refusalFields);
  return slow ? Promise.all(slow).then(done) : done();
}

/** The answer from every policy's outcome: 429 / 503 refusals, fail-open admissions, the RateLimit headers. */
function conclude(
  args: EnforceArgs,
  outcomes: Outcome[],
  log: (line: object) => void,
  waitUntil: (p: Promise<unknown>) => void,
  refusalFields: (policy: string) => object,
): EnforceResult {
  const { policies, routeKey, now } = args;
  const limits: LimitStatus[] = [];
  let unavailable: CompiledPolicy | undefined;
  for (const o of outcomes) {
    if ('err' in o) {
      // A call still out keeps running after this request is answered: its answer counts permits and fills the lease.
      if (o.err instanceof LimiterUnavailable && o.err.pending) waitUntil(o.err.pending);
      const action = o.p.failOpen ? 'allow' : 'deny';
      log({
        level: 'warn',
        event: 'ratelimit_unavailable',
        route: routeKey,
        policy: o.p.id,
        action,
        status: o.p.failOpen ? undefined : 503,
        error: String(o.err instanceof Error ? o.err.message : o.err).slice(0, 200),
      });
      if (!o.p.failOpen) unavailable ??= o.p;
    } else limits.push(...statuses(o.p, o.r));
  }
  const anyDenied = outcomes.some((o) => 'r' in o && !o.r.allowed);
  if (unavailable || anyDenied) {
    // Nothing is counted for a request that is not served: give allowed permits back to the local lease.
    for (const o of outcomes) if ('r' in o && o.r.allowed) o.r.refund(now);
  }
  if (unavailable) {
    return { denied: json(503, { error: 'rate_limiter_unavailable', ...refusalFields(unavailable.id) }), headers: [] };
  }
  // Served although a limiter failed (failOpen): the request still takes its share of the quota, counted late.
  if (!anyDenied) for (const o of outcomes) if ('err' in o && o.err instanceof LimiterUnavailable) o.err.admit();
  const headers = rateLimitHeaders(policyItems(policies), limits);
  if (anyDenied) {
    const top = mostConstraining(limits)!;
    let retryMs = 0;
    for (const o of outcomes) if ('r' in o && !o.r.allowed) retryMs = Math.max(retryMs, o.r.retryMs);
    const retryAfter = Math.max(1, top.resetSeconds, toSeconds(retryMs));
    const all: [string, string][] = [['Retry-After', String(retryAfter)], ...headers];
    return { denied: json(429, { error: 'rate_limited', retryAfter, ...refusalFields(top.policy) }, all), headers: all };
  }
  return { headers };
}
