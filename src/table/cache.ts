/** Per-isolate routing-table cache: stale-while-revalidate over KV, never replacing a good table with a bad one. */
import { KV_POINTER_KEY, SnapshotPointer } from '../schema/snapshot.js';
import { dottedPath, locateIssues, validateSnapshot } from '../schema/validate.js';
import type { CompiledTable } from '../table.js';
import { compileTable } from './compile.js';

/** The subset of KVNamespace the cache reads. */
export interface TableSource {
  get(key: string, type: 'text'): Promise<string | null>;
}

export type Logger = (line: Record<string, unknown>) => void;

export class TableCache {
  private current: CompiledTable | undefined;
  private checkedAt = -Infinity;
  private refreshing: Promise<void> | undefined;
  /** A version whose snapshot failed validation: not fetched again until the pointer moves on. */
  private rejectedVersion: number | undefined;

  constructor(
    private readonly log: Logger,
    private refreshMs = 5000,
  ) {}

  setRefreshMs(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.refreshMs = ms;
  }

  /**
   * Returns the table to serve. A cold isolate waits for KV; a warm one serves what it has and refreshes in the
   * background once the table is older than refreshMs.
   */
  async get(source: TableSource, now: number, waitUntil: (p: Promise<unknown>) => void): Promise<CompiledTable | undefined> {
    if (this.current && now - this.checkedAt < this.refreshMs) return this.current;
    if (this.current) {
      if (!this.refreshing) waitUntil(this.refresh(source, now));
      return this.current;
    }
    await this.refresh(source, now);
    return this.current;
  }

  get table(): CompiledTable | undefined {
    return this.current;
  }

  refresh(source: TableSource, now: number): Promise<void> {
    this.refreshing ??= this.load(source, now).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async load(source: TableSource, now: number): Promise<void> {
    try {
      const rawPointer = await source.get(KV_POINTER_KEY, 'text');
      if (rawPointer === null) {
        this.log({ level: 'warn', msg: 'routing table pointer missing', key: KV_POINTER_KEY, serving: this.current?.version ?? null });
        this.checkedAt = now;
        return;
      }
      const pointer = SnapshotPointer.safeParse(safeJson(rawPointer));
      if (!pointer.success) {
        this.log({
          level: 'error',
          msg: 'routing table pointer invalid',
          issues: locateIssues(pointer.error.issues).map(formatIssue),
          serving: this.current?.version ?? null,
        });
        this.checkedAt = now;
        return;
      }
      const { version, key } = pointer.data;
      if (version === this.current?.version || version === this.rejectedVersion) {
        this.checkedAt = now;
        return;
      }
      const raw = await source.get(key, 'text');
      // The same strict pipeline as the CLI and the admin API: an unknown field is a rejected snapshot here too.
      const parsed = validateSnapshot(raw === null ? undefined : safeJson(raw));
      if (!parsed.ok || parsed.snapshot.version !== version) {
        this.rejectedVersion = version;
        this.log({
          level: 'error',
          msg: 'routing table snapshot rejected; keeping the last good table',
          version,
          key,
          issues: parsed.ok
            ? [`snapshot says version ${parsed.snapshot.version}, pointer says ${version}`]
            : parsed.issues.slice(0, 20).map(formatIssue),
          serving: this.current?.version ?? null,
        });
        this.checkedAt = now;
        return;
      }
      const compiled = compileTable(parsed.snapshot);
      this.current = compiled;
      this.checkedAt = now;
      this.log({
        level: 'info',
        msg: 'routing table loaded',
        version,
        routes: parsed.snapshot.routes.length,
        backends: parsed.snapshot.backends.length,
        compileMs: Math.round(compiled.compileMs * 100) / 100,
      });
    } catch (err) {
      // KV unavailable: keep serving what we have and try again after the refresh interval.
      this.checkedAt = now;
      this.log({
        level: 'error',
        msg: 'routing table refresh failed; keeping the last good table',
        error: String(err),
        serving: this.current?.version ?? null,
      });
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { __invalidJson: text.slice(0, 40) };
  }
}

function formatIssue(issue: { path: PropertyKey[]; message: string }): string {
  return `${dottedPath(issue.path) || '(root)'}: ${issue.message}`;
}
