/**
 * Per-isolate routing-table cache: stale-while-revalidate over KV, never replacing a good table with a bad one. A big
 * table is sharded (src/table/shard.ts): the index loads with the pointer, each shard on the first request for one of
 * its hosts (src/table/sharded.ts), with the same last-good rule per shard.
 */
import { KV_POINTER_KEY, SnapshotPointer } from '../schema/snapshot.js';
import { locateIssues, validateTableRoot } from '../schema/validate.js';
import type { CompiledTable } from '../table.js';
import { compileTable } from './compile.js';
import { formatIssue, safeJson, SHARD_MEMORY_BUDGET_BYTES, ShardedTable, type Logger, type TableSource } from './sharded.js';

export type { Logger, TableSource } from './sharded.js';

/** What a version loaded as: a whole table, or an index whose shards load on demand. */
type Loaded = { kind: 'whole'; table: CompiledTable } | { kind: 'sharded'; table: ShardedTable };

const versionOf = (l: Loaded | undefined) => l?.table.version;

export class TableCache {
  private current: Loaded | undefined;
  /**
   * The version served before `current`: its already loaded shards keep answering for their hosts while the new
   * version's shard loads (stale-while-revalidate per shard), or when that shard fails.
   */
  private previous: Loaded | undefined;
  private checkedAt = -Infinity;
  private refreshing: Promise<void> | undefined;
  /** A version whose snapshot failed validation: not fetched again until the pointer moves on. */
  private rejectedVersion: number | undefined;

  constructor(
    private readonly log: Logger,
    private refreshMs = 5000,
    /** Shard JSON kept compiled per isolate (src/table/sharded.ts): least recently used shards go first. */
    private readonly shardBudgetBytes = SHARD_MEMORY_BUDGET_BYTES,
  ) {}

  setRefreshMs(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.refreshMs = ms;
  }

  /**
   * Returns the table to serve. A cold isolate waits for KV; a warm one serves what it has and refreshes in the
   * background once the table is older than refreshMs. With `host` (the request's, as the matcher sees it) and a
   * sharded table, the result is the index composed with that host's shard, which a first request waits for.
   * Without `host` (the health page), a sharded table answers with its index alone.
   */
  async get(source: TableSource, now: number, waitUntil: (p: Promise<unknown>) => void, host?: string): Promise<CompiledTable | undefined> {
    if (this.current && now - this.checkedAt >= this.refreshMs && !this.refreshing) waitUntil(this.refresh(source, now));
    else if (!this.current) await this.refresh(source, now);
    const state = this.current;
    if (!state) return undefined;
    if (state.kind === 'whole') return state.table;
    if (host === undefined) return state.table.index;
    return this.forHost(state.table, host, source, now, waitUntil);
  }

  /**
   * A host's shard: loaded → serve it; loading or failing → the previous version's answer for the host if this isolate
   * has one (stale-while-revalidate); otherwise wait for the load. A shard that cannot be loaded and has no previous
   * answer gives undefined: table_unavailable for that shard's hosts only.
   */
  private async forHost(
    table: ShardedTable,
    host: string,
    source: TableSource,
    now: number,
    waitUntil: (p: Promise<unknown>) => void,
  ): Promise<CompiledTable | undefined> {
    const k = table.shardFor(host);
    const ready = table.ready(k);
    if (ready) return ready;
    const pending = table.load(k, source, now, this.refreshMs);
    const stale = this.previousFor(host);
    if (stale) {
      if (pending) waitUntil(pending);
      return stale;
    }
    return pending ? await pending : undefined;
  }

  private previousFor(host: string): CompiledTable | undefined {
    const p = this.previous;
    if (!p) return undefined;
    return p.kind === 'whole' ? p.table : p.table.ready(p.table.shardFor(host));
  }

  /** The current table; for a sharded one, its index alone. */
  get table(): CompiledTable | undefined {
    const c = this.current;
    return c === undefined ? undefined : c.kind === 'whole' ? c.table : c.table.index;
  }

  refresh(source: TableSource, now: number): Promise<void> {
    this.refreshing ??= this.load(source, now).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async load(source: TableSource, now: number): Promise<void> {
    const serving = versionOf(this.current) ?? null;
    try {
      const rawPointer = await source.get(KV_POINTER_KEY, 'text');
      if (rawPointer === null) {
        this.log({ level: 'warn', msg: 'routing table pointer missing', key: KV_POINTER_KEY, serving });
        this.checkedAt = now;
        return;
      }
      const pointer = SnapshotPointer.safeParse(safeJson(rawPointer));
      if (!pointer.success) {
        this.log({
          level: 'error',
          msg: 'routing table pointer invalid',
          issues: locateIssues(pointer.error.issues).map(formatIssue),
          serving,
        });
        this.checkedAt = now;
        return;
      }
      const { version, key } = pointer.data;
      if (version === serving || version === this.rejectedVersion) {
        this.checkedAt = now;
        return;
      }
      const raw = await source.get(key, 'text');
      // The same strict pipeline as the CLI and the admin API: an unknown field is a rejected snapshot here too.
      const parsed = validateTableRoot(raw === null ? undefined : safeJson(raw));
      const got = parsed.ok ? ('index' in parsed ? parsed.index.version : parsed.snapshot.version) : undefined;
      if (!parsed.ok || got !== version) {
        this.rejectedVersion = version;
        this.log({
          level: 'error',
          msg: 'routing table snapshot rejected; keeping the last good table',
          version,
          key,
          issues: parsed.ok ? [`snapshot says version ${got}, pointer says ${version}`] : parsed.issues.slice(0, 20).map(formatIssue),
          serving,
        });
        this.checkedAt = now;
        return;
      }
      const next: Loaded =
        'index' in parsed
          ? { kind: 'sharded', table: new ShardedTable(parsed.index, this.log, this.shardBudgetBytes) }
          : { kind: 'whole', table: compileTable(parsed.snapshot) };
      // Only a sharded table has hosts still waiting for their shard; a whole one serves them all at once.
      this.previous = next.kind === 'sharded' ? this.current : undefined;
      this.current = next;
      this.checkedAt = now;
      const doc = 'index' in parsed ? parsed.index : parsed.snapshot;
      const head = next.kind === 'whole' ? next.table : next.table.index;
      this.log({
        level: 'info',
        msg: 'routing table loaded',
        version,
        routes: doc.routes.length,
        backends: doc.backends.length,
        ...('index' in parsed ? { shards: parsed.index.sharding.count, totalRoutes: parsed.index.sharding.total.routes } : {}),
        compileMs: Math.round(head.compileMs * 100) / 100,
      });
    } catch (err) {
      // KV unavailable: keep serving what we have and try again after the refresh interval.
      this.checkedAt = now;
      this.log({
        level: 'error',
        msg: 'routing table refresh failed; keeping the last good table',
        error: String(err),
        serving,
      });
    }
  }
}
