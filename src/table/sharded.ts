/**
 * A sharded table in one isolate: the index compiled at load, each shard fetched, validated and compiled on the first
 * request for one of its hosts (one shared KV read however many requests wait), composed with the index so that
 * matching gives exactly what the unsharded matcher would.
 */
import type { MatchRequest, RouteMatch, RouteMatcher } from '../routing.js';
import { matcherHost } from '../routing/hostname.js';
import type { Snapshot, TableIndex, TableShard } from '../schema.js';
import { dottedPath, validateShard } from '../schema/validate.js';
import type { CompiledTable, RulePlan, TablePlans } from '../table.js';
import { compileTable } from './compile.js';
import { shardOf } from './shard.js';

/** The subset of KVNamespace the table reads. */
export interface TableSource {
  get(key: string, type: 'text'): Promise<string | null>;
}

export type Logger = (line: Record<string, unknown>) => void;

interface ShardSlot {
  view: CompiledTable | undefined;
  /** Size of the shard's JSON while loaded (the memory budget counts it). */
  bytes: number;
  /** Tick of the last request served from it: the least recently used shard is dropped first. */
  usedAt: number;
  loading: Promise<CompiledTable | undefined> | undefined;
  /** Last failed fetch (KV error or missing key): retried once the retry interval has passed. */
  failedAt: number | undefined;
  /** Failed validation: immutable, so never fetched again for this version. */
  rejected: boolean;
}

/** A route hostname that is neither a wildcard nor absent: the match came from a host's exact group. */
/**
 * Shard JSON an isolate keeps compiled at most (~8x that in heap once its hosts are matched: bench/scale.ts). An
 * isolate that sees hosts of every shard of a 100k-route table would otherwise hold all of it (~250 MB, past the
 * 128 MB isolate limit); past the budget the least recently used shard is dropped and read again (one KV read) when
 * one of its hosts returns.
 */
export const SHARD_MEMORY_BUDGET_BYTES = 3 * 1024 * 1024;

const isExactHostMatch = (m: RouteMatch) => m.matchedHostname !== '' && m.matchedHostname.charCodeAt(0) !== 42; /* * */

export class ShardedTable {
  readonly version: number;
  /** The index alone (wildcard and hostname-less routes): what callers without a host (the health page) see. */
  readonly index: CompiledTable;
  private readonly slots: ShardSlot[];
  private tick = 0;
  private loadedBytes = 0;

  constructor(
    private readonly doc: TableIndex,
    private readonly log: Logger,
    private readonly budgetBytes = SHARD_MEMORY_BUDGET_BYTES,
  ) {
    this.version = doc.version;
    this.index = compileTable(indexSnapshot(doc));
    this.slots = Array.from({ length: doc.sharding.count }, () => ({
      view: undefined,
      bytes: 0,
      usedAt: 0,
      loading: undefined,
      failedAt: undefined,
      rejected: false,
    }));
  }

  /** Shards compiled in this isolate now. */
  get loadedShards(): number {
    return this.slots.filter((s) => s.view !== undefined).length;
  }

  get shardCount(): number {
    return this.doc.sharding.count;
  }

  /** The shard of a request host (normalised like the matcher does it). */
  shardFor(host: string): number {
    return shardOf(matcherHost(host), this.doc.sharding.count);
  }

  /** The composed table for a shard, if it is loaded. */
  ready(shard: number): CompiledTable | undefined {
    const slot = this.slots[shard];
    if (slot?.view === undefined) return undefined;
    slot.usedAt = ++this.tick;
    return slot.view;
  }

  /**
   * Starts (or joins) the load of a shard. Undefined when there is nothing to wait for: the shard was rejected, or its
   * last fetch failed less than `retryMs` ago.
   */
  load(shard: number, source: TableSource, now: number, retryMs: number): Promise<CompiledTable | undefined> | undefined {
    const slot = this.slots[shard]!;
    if (slot.view) return Promise.resolve(slot.view);
    if (slot.loading) return slot.loading;
    if (slot.rejected || (slot.failedAt !== undefined && now - slot.failedAt < retryMs)) return undefined;
    slot.loading = this.fetchShard(shard, slot, source, now).finally(() => {
      slot.loading = undefined;
    });
    return slot.loading;
  }

  private async fetchShard(k: number, slot: ShardSlot, source: TableSource, now: number): Promise<CompiledTable | undefined> {
    const key = this.doc.sharding.keys[k]!;
    let raw: string | null;
    try {
      raw = await source.get(key, 'text');
    } catch (err) {
      slot.failedAt = now;
      this.log({ level: 'error', msg: 'routing table shard fetch failed', version: this.version, shard: k, key, error: String(err) });
      return undefined;
    }
    if (raw === null) {
      // Writers put shards before the index: a missing shard is KV lagging or a broken writer; try again later.
      slot.failedAt = now;
      this.log({ level: 'error', msg: 'routing table shard missing', version: this.version, shard: k, key });
      return undefined;
    }
    const parsed = validateShard(safeJson(raw));
    const issues = parsed.ok ? shardMismatch(parsed.shard, this.doc, k) : parsed.issues.slice(0, 20).map(formatIssue);
    if (!parsed.ok || issues.length) {
      slot.rejected = true;
      this.log({ level: 'error', msg: 'routing table shard rejected', version: this.version, shard: k, key, issues });
      return undefined;
    }
    const compiled = compileTable(shardSnapshot(this.doc, parsed.shard));
    slot.view = compose(this.index, compiled, this.doc, parsed.shard);
    slot.bytes = raw.length;
    slot.usedAt = ++this.tick;
    this.loadedBytes += raw.length;
    this.evict(slot);
    this.log({
      level: 'info',
      msg: 'routing table shard loaded',
      version: this.version,
      shard: k,
      routes: parsed.shard.routes.length,
      backends: parsed.shard.backends.length,
      compileMs: Math.round(compiled.compileMs * 100) / 100,
    });
    return slot.view;
  }
  /** Drops least recently used shards (never `keep`) until the loaded ones fit the budget. */
  private evict(keep: ShardSlot): void {
    while (this.loadedBytes > this.budgetBytes) {
      let lru: ShardSlot | undefined;
      for (const s of this.slots) if (s.view !== undefined && s !== keep && (lru === undefined || s.usedAt < lru.usedAt)) lru = s;
      if (lru === undefined) return;
      lru.view = undefined;
      this.loadedBytes -= lru.bytes;
      lru.bytes = 0;
    }
  }
}

function shardMismatch(shard: TableShard, index: TableIndex, k: number): string[] {
  const out: string[] = [];
  if (shard.version !== index.version) out.push(`shard says version ${shard.version}, index says ${index.version}`);
  if (shard.shard !== k) out.push(`shard says number ${shard.shard}, index lists it as ${k}`);
  if (shard.positions.routes.length !== shard.routes.length || shard.positions.backends.length !== shard.backends.length)
    out.push('positions do not match the routes and backends');
  return out;
}

const indexSnapshot = (doc: TableIndex): Snapshot => ({
  version: doc.version,
  createdAt: doc.createdAt,
  routes: doc.routes,
  backends: doc.backends,
  policies: doc.policies,
  securityPolicies: doc.securityPolicies,
});

// Policies are compiled again per shard: they are few, and a rule's plan needs the ones targeting it.
const shardSnapshot = (doc: TableIndex, shard: TableShard): Snapshot => ({
  ...indexSnapshot(doc),
  routes: shard.routes,
  backends: shard.backends,
});

/**
 * Index + shard as one table. Every route listing host H exactly is in H's shard, so the shard's exact group for H is
 * the unsharded one; every wildcard and hostname-less route is in the index. The unsharded matcher tries the exact
 * group, then wildcards, then hostname-less routes: here a shard answer from an exact group wins, and anything else
 * (no answer, or a wildcard answer from a route that also lists exact hosts) falls through to the index.
 */
function compose(index: CompiledTable, shard: CompiledTable, doc: TableIndex, part: TableShard): CompiledTable {
  const matcher: RouteMatcher = {
    size: index.matcher.size + shard.matcher.size,
    match(req: MatchRequest): RouteMatch | null {
      const m = shard.matcher.match(req);
      if (m !== null && isExactHostMatch(m)) return m;
      return index.matcher.match(req);
    },
  };
  const plans: TablePlans = {
    forMatch: (m): RulePlan => (shard.plans.forRoute(m.route) ? shard.plans.forMatch(m) : index.plans.forMatch(m)),
    forRoute: (route) => shard.plans.forRoute(route) ?? index.plans.forRoute(route),
  };
  return {
    version: doc.version,
    snapshot: { ...index.snapshot, routes: [...doc.routes, ...part.routes], backends: [...doc.backends, ...part.backends] },
    matcher,
    backends: new Map([...index.backends, ...shard.backends]),
    policies: index.policies,
    plans,
    compileMs: index.compileMs + shard.compileMs,
  };
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { __invalidJson: text.slice(0, 40) };
  }
}

export function formatIssue(issue: { path: PropertyKey[]; message: string }): string {
  return `${dottedPath(issue.path) || '(root)'}: ${issue.message}`;
}
