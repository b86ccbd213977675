/** RateLimiterDO: exact counters for one (policy, key), SQLite-backed, with typed RPC and alarm cleanup of idle keys. */
import { DurableObject } from 'cloudflare:workers';
import type { AcquireRequest, AcquireResult, AdmittedReport, LeaseReturn, LimiterConfig, RateLimiterRpc } from '../ratelimit.js';
import { fingerprint, LimiterCore, type CoreMeta } from './limiter.js';

export class RateLimiterDO extends DurableObject<unknown> implements RateLimiterRpc {
  private core: LimiterCore | null = null;
  private alarmAt: number | null = null;
  private schemaReady = false;
  /** Clock of the object; tests replace it through runInDurableObject. */
  clock: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.ensureSchema();
      const row = this.ctx.storage.sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = 'core'`).toArray()[0];
      if (row) {
        const meta = JSON.parse(row.v) as CoreMeta;
        const rows = this.ctx.storage.sql.exec<{ li: number; at: number; n: number }>('SELECT li, at, n FROM log ORDER BY li, at');
        this.core = LimiterCore.restore(meta, rows);
      }
      this.alarmAt = await this.ctx.storage.getAlarm();
    });
  }

  private ensureSchema(): void {
    if (this.schemaReady) return;
    this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS log (li INTEGER NOT NULL, at INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (li, at))`);
    this.schemaReady = true;
  }

  private coreFor(config: LimiterConfig): LimiterCore {
    if (!this.core || this.core.fp !== fingerprint(config)) {
      // A changed policy starts from empty counters (its windows may not be comparable).
      this.ensureSchema();
      this.ctx.storage.sql.exec('DELETE FROM log');
      this.core = new LimiterCore(config);
    }
    return this.core;
  }

  /** Writes what changed: pruned and touched log buckets, and the small meta row. */
  private persist(core: LimiterCore): void {
    const sql = this.ctx.storage.sql;
    core.logs.forEach((log, li) => {
      if (!log) return;
      if (log.prunedThrough > -Infinity) sql.exec('DELETE FROM log WHERE li = ? AND at <= ?', li, log.prunedThrough);
      log.prunedThrough = -Infinity;
      for (const at of log.dirty) {
        const n = log.count(at);
        if (n > 0) sql.exec('INSERT INTO log (li, at, n) VALUES (?, ?, ?) ON CONFLICT (li, at) DO UPDATE SET n = excluded.n', li, at, n);
        else sql.exec('DELETE FROM log WHERE li = ? AND at = ?', li, at);
      }
      log.dirty.clear();
    });
    sql.exec(`INSERT INTO meta (k, v) VALUES ('core', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, JSON.stringify(core.meta()));
  }

  private async arm(core: LimiterCore, now: number): Promise<void> {
    // One alarm per idle period: alarm() re-arms itself while the key is still counted.
    if (this.alarmAt !== null) return;
    this.alarmAt = Math.max(core.idleAt(now), now + 1);
    await this.ctx.storage.setAlarm(this.alarmAt);
  }

  async acquire(req: AcquireRequest): Promise<AcquireResult> {
    const now = this.clock();
    const core = this.coreFor(req.config);
    const res = core.acquire(req, now);
    this.persist(core);
    await this.arm(core, now);
    return res;
  }

  async release(config: LimiterConfig, returns: LeaseReturn[], admitted?: AdmittedReport[]): Promise<void> {
    const now = this.clock();
    // Returns only mean something to the core that leased them; fail-open admissions count on a new core too.
    if (!admitted?.length && (!this.core || this.core.fp !== fingerprint(config))) return;
    const core = this.coreFor(config);
    core.release(returns, now, admitted);
    this.persist(core);
    await this.arm(core, now);
  }

  /** Counted requests per limit (tests and debugging). */
  async counts(): Promise<{ remaining: number[]; outstanding: number; stored: boolean }> {
    const now = this.clock();
    const core = this.core;
    const stored = this.ctx.storage.sql.databaseSize > 0 && this.tableExists();
    if (!core) return { remaining: [], outstanding: 0, stored };
    return { remaining: core.views(now).map((v) => v.remaining), outstanding: core.outstanding, stored };
  }

  private tableExists(): boolean {
    return this.ctx.storage.sql.exec(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).toArray().length > 0;
  }

  override async alarm(): Promise<void> {
    const now = this.clock();
    this.alarmAt = null;
    const core = this.core;
    if (!core || core.isIdle(now)) {
      // Every window has expired: the key costs nothing until it is seen again.
      this.core = null;
      this.schemaReady = false;
      await this.ctx.storage.deleteAll();
      return;
    }
    this.persist(core);
    this.alarmAt = core.idleAt(now);
    await this.ctx.storage.setAlarm(this.alarmAt);
  }
}
