/** CoordinatorDO: the single writer. Holds published resources and every cluster's endpoints, writes KV snapshots. */
import { DurableObject } from 'cloudflare:workers';
import type { Resource } from '../schema/snapshot.js';
import { tableEntries } from '../table/shard.js';
import type { PushBody, WeightsBody } from './api.js';
import { CoordinatorState, DEFAULT_STALE_AFTER_MS, type ClusterRecord, type HistoryEntry, type Meta, type RolloutLock } from './state.js';
import type { AdminEnv } from './env.js';
import { parseAgentKeysDetailed } from './signing.js';
export { COORDINATOR_NAME } from './env.js';

/** KV allows one write per second to a key: the pointer is moved at most this often. */
export const FLUSH_INTERVAL_MS = 1000;

interface FlushMark {
  version: number;
  at: number;
}

/**
 * The coordinator's behaviour over a DurableObjectState. Kept apart from the DurableObject subclass because workerd
 * only lets the runtime construct that one; tests run this class over an in-memory state.
 */
export class Coordinator {
  private state = new CoordinatorState();
  private flushed: FlushMark = { version: 0, at: 0 };

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: AdminEnv,
  ) {
    void ctx.blockConcurrencyWhile(() => this.load());
  }

  private async load() {
    const s = this.ctx.storage;
    const [meta, published, flushed, history, clusters, nonces, locks] = await Promise.all([
      s.get<Meta>('meta'),
      s.get<Resource[]>('published'),
      s.get<FlushMark>('flushed'),
      s.list<HistoryEntry>({ prefix: 'history:' }),
      s.list<ClusterRecord>({ prefix: 'cluster:' }),
      s.list<number>({ prefix: 'nonce:' }),
      s.list<RolloutLock>({ prefix: 'lock:' }),
    ]);
    this.state = new CoordinatorState({
      ...(meta ? { meta } : {}),
      published: published ?? [],
      history: [...history.values()],
      clusters: [...clusters.values()],
      nonces: [...nonces.entries()].map(([k, v]) => [k.slice('nonce:'.length), v]),
      locks: [...locks.values()],
    });
    this.flushed = flushed ?? { version: 0, at: 0 };
    // A changed AGENT_KEYS restarts the object: schedule the withdrawal of clusters whose key is gone.
    await this.arm(Date.now());
  }

  /**
   * The clusters AGENT_KEYS names, read from this object's own bindings (a secret change restarts it). Null when the
   * secret is not a JSON object at all: a typo must not withdraw every cluster, so nothing is revoked then.
   */
  private knownClusters(): ReadonlySet<string> | null {
    const raw = this.env.AGENT_KEYS;
    if (raw) {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
      } catch {
        return null;
      }
    }
    return new Set(Object.keys(parseAgentKeysDetailed(raw).keys));
  }

  /** Staleness, revocation and nonce expiry due by `now`; run before every call and from the alarm. */
  private housekeeping(now: number) {
    this.state.markStale(now, this.staleAfterMs);
    if (this.state.withdrawRevoked(now, this.knownClusters(), this.staleAfterMs))
      console.log(
        JSON.stringify({ level: 'warn', event: 'coordinator.revoked', message: 'endpoints of clusters without a key withdrawn' }),
      );
    this.state.expireNonces(now);
  }

  private get staleAfterMs() {
    const s = Number(this.env.AGENT_STALE_SECONDS);
    return Number.isFinite(s) && s > 0 ? s * 1000 : DEFAULT_STALE_AFTER_MS;
  }

  /** Persists what the last mutation changed, then makes sure an alarm will flush it to KV. */
  private async persist() {
    const writes = this.state.drainWrites();
    const puts: Record<string, unknown> = {};
    const deletes: string[] = [];
    for (const [k, v] of writes)
      if (v === undefined) deletes.push(k);
      else puts[k] = v;
    const entries = Object.entries(puts);
    for (let i = 0; i < entries.length; i += 128) await this.ctx.storage.put(Object.fromEntries(entries.slice(i, i + 128)));
    for (let i = 0; i < deletes.length; i += 128) await this.ctx.storage.delete(deletes.slice(i, i + 128));
    await this.arm(Date.now());
  }

  private nextWake(now: number): number | null {
    const times: number[] = [];
    if (this.state.meta.version > this.flushed.version) times.push(Math.max(now, this.flushed.at + FLUSH_INTERVAL_MS));
    const stale = this.state.markStaleDue(this.staleAfterMs);
    if (stale !== null) times.push(stale);
    const revoke = this.state.revokeDue(this.knownClusters(), this.staleAfterMs);
    if (revoke !== null) times.push(revoke);
    for (const until of this.state.nonces.values()) {
      times.push(until);
      break; // insertion order is roughly expiry order; one wake-up cleans all that are due
    }
    return times.length ? Math.max(now, Math.min(...times)) : null;
  }

  private async arm(now: number) {
    const next = this.nextWake(now);
    if (next === null) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }

  async alarm() {
    const now = Date.now();
    try {
      this.housekeeping(now);
      const writes = this.state.drainWrites();
      for (const [k, v] of writes)
        if (v === undefined) await this.ctx.storage.delete(k);
        else await this.ctx.storage.put(k, v);
      if (this.state.meta.version > this.flushed.version && now >= this.flushed.at + FLUSH_INTERVAL_MS) await this.flush(now);
    } finally {
      // Alarms do not repeat: re-arm for the next flush, staleness check or nonce expiry.
      const next = this.nextWake(Date.now());
      if (next !== null) await this.ctx.storage.setAlarm(next);
    }
  }

  /**
   * Writes the immutable snapshot first, then the pointer (KV caches misses: never point at a missing key). A big
   * table goes out sharded (src/table/shard.ts): its shards, then its index, then the pointer, one put each. Only the
   * pointer key is ever rewritten, at most once per FLUSH_INTERVAL_MS; ~250 shards at 100k routes stay well inside
   * the 1,000 KV operations of one invocation.
   */
  private async flush(now: number) {
    const snap = this.state.snapshot();
    if (!snap) return;
    const entries = tableEntries(snap, new Date(now).toISOString());
    for (const e of entries) await this.env.ROUTES.put(e.key, e.value);
    this.flushed = { version: snap.version, at: now };
    await this.ctx.storage.put('flushed', this.flushed);
    console.log(JSON.stringify({ level: 'info', event: 'coordinator.flush', version: snap.version, kvWrites: entries.length }));
  }

  // ---- typed RPC ----

  async getSnapshot() {
    return { snapshot: this.state.snapshot(), version: this.state.meta.version, flushedVersion: this.flushed.version };
  }

  async publish(resources: unknown[], ifMatch: string | undefined) {
    const out = this.state.publish(resources, ifMatch, Date.now());
    await this.persist();
    return out;
  }

  async setWeights(body: WeightsBody, ifMatch: string | undefined) {
    const out = this.state.setWeights(body, ifMatch, Date.now());
    await this.persist();
    return out;
  }

  /** A rollout's step (src/rollout): weights of the rule it holds, as a new version. */
  async rolloutWeights(rollout: string, body: WeightsBody, release: boolean) {
    const out = this.state.rolloutWeights(rollout, body, release, Date.now());
    await this.persist();
    return out;
  }

  async releaseRollout(rollout: string) {
    this.state.releaseRollout(rollout);
    await this.persist();
  }

  /** Published resources of one kind as the rollouts read them (Rollouts, and the HTTPRoute a rollout targets). */
  async published(kind: 'Rollout' | 'HTTPRoute') {
    return this.state.published.filter((r) => r.kind === kind);
  }

  async rollback(version: number) {
    const out = this.state.rollback(version, Date.now());
    await this.persist();
    return out;
  }

  async versions() {
    return this.state.versions();
  }

  async clusters() {
    this.housekeeping(Date.now());
    await this.persist();
    return this.state.clusterInfo(this.knownClusters());
  }

  private info(cluster: string) {
    return this.state.clusterInfo(this.knownClusters()).find((c) => c.cluster === cluster)!;
  }

  async cordon(cluster: string) {
    this.state.cordon(cluster);
    await this.persist();
    console.log(JSON.stringify({ level: 'warn', event: 'coordinator.cordon', cluster }));
    return this.info(cluster);
  }

  async uncordon(cluster: string) {
    if (!this.state.uncordon(cluster)) return null;
    await this.persist();
    console.log(JSON.stringify({ level: 'info', event: 'coordinator.uncordon', cluster }));
    return this.info(cluster);
  }

  async withdraw(cluster: string) {
    const out = this.state.withdraw(cluster, Date.now());
    await this.persist();
    console.log(JSON.stringify({ level: 'warn', event: 'coordinator.withdraw', cluster, version: out.version }));
    return { version: out.version, cluster: this.info(cluster) };
  }

  /** Agent push. The Worker verified the signature; the replay check happens here, in the one writer. */
  async push(cluster: string, signature: string, body: PushBody) {
    const now = Date.now();
    this.housekeeping(now);
    if (!this.state.useNonce(signature, now)) return { ok: false as const, status: 401 as const, error: 'replayed request' };
    const out = this.state.push(cluster, body, now);
    await this.persist();
    if (out.ok && out.value.refused.length)
      console.log(
        JSON.stringify({
          level: 'warn',
          event: 'coordinator.push.refused',
          cluster,
          refused: out.value.refused.length,
          sample: out.value.refused.slice(0, 5),
        }),
      );
    return out;
  }

  async heartbeat(cluster: string, signature: string, agentVersion: string | undefined) {
    const now = Date.now();
    this.housekeeping(now);
    if (!this.state.useNonce(signature, now)) return { ok: false as const, status: 401 as const, error: 'replayed request' };
    const out = this.state.heartbeat(cluster, now, agentVersion);
    await this.persist();
    return { ok: true as const, value: out };
  }
}

/** The Durable Object class the Worker exports (binding COORDINATOR, one instance named "global"). */
export class CoordinatorDO extends DurableObject<AdminEnv> {
  private readonly core: Coordinator;

  constructor(ctx: DurableObjectState, env: AdminEnv) {
    super(ctx, env);
    this.core = new Coordinator(ctx, env);
  }

  override alarm() {
    return this.core.alarm();
  }
  getSnapshot() {
    return this.core.getSnapshot();
  }
  publish(resources: unknown[], ifMatch: string | undefined) {
    return this.core.publish(resources, ifMatch);
  }
  setWeights(body: WeightsBody, ifMatch: string | undefined) {
    return this.core.setWeights(body, ifMatch);
  }
  rollback(version: number) {
    return this.core.rollback(version);
  }
  rolloutWeights(rollout: string, body: WeightsBody, release: boolean) {
    return this.core.rolloutWeights(rollout, body, release);
  }
  releaseRollout(rollout: string) {
    return this.core.releaseRollout(rollout);
  }
  published(kind: 'Rollout' | 'HTTPRoute') {
    return this.core.published(kind);
  }
  versions() {
    return this.core.versions();
  }
  clusters() {
    return this.core.clusters();
  }
  cordon(cluster: string) {
    return this.core.cordon(cluster);
  }
  uncordon(cluster: string) {
    return this.core.uncordon(cluster);
  }
  withdraw(cluster: string) {
    return this.core.withdraw(cluster);
  }
  push(cluster: string, signature: string, body: PushBody) {
    return this.core.push(cluster, signature, body);
  }
  heartbeat(cluster: string, signature: string, agentVersion: string | undefined) {
    return this.core.heartbeat(cluster, signature, agentVersion);
  }
}
