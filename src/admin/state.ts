/** The coordinator's state machine: pure, synchronous, clock passed in; the Durable Object only persists and flushes it. */
import { DEFAULT_MAX_ENDPOINTS_PER_CLUSTER, Endpoint, MAX_BACKEND_ENDPOINTS, type Backend } from '../schema/backend.js';
import type { HTTPRoute } from '../schema/httproute.js';
import { Snapshot, toSnapshot, type Resource } from '../schema/snapshot.js';
import { objectKey, reportedEndpointKey, resourceKey } from '../schema/keys.js';
import { dottedPath, validateResources as validateResourceList, type LocatedIssue } from '../schema/validate.js';
import type { ClusterInfo, PushBody, Refusal, ReportedEndpoint, WeightsBody } from './api.js';
import { REPLAY_WINDOW_MS } from './signing.js';

export interface ClusterRecord {
  cluster: string;
  lastHeartbeat: number | null;
  agentVersion?: string | undefined;
  stale: boolean;
  endpoints: ReportedEndpoint[];
  /** Operator cordon: endpoints it does not hold yet are refused; the ones it holds keep serving. */
  cordoned?: boolean | undefined;
  /** When and why its endpoints were withdrawn (by an operator, or because its key left AGENT_KEYS). */
  withdrawn?: { at: number; reason: 'operator' | 'key-removed' } | undefined;
  /** What its last push was refused for cordon reasons (shown by GET /clusters; other refusals are recomputed). */
  cordonRefused?: Refusal[] | undefined;
}

export interface HistoryEntry {
  version: number;
  createdAt: string;
  reason: string;
  resources: Resource[];
}

export interface Meta {
  version: number;
  /** Version of the latest operator change (publish, weights, rollback): If-Match below it is a conflict. */
  publishedVersion: number;
  createdAt: string;
}

export type Issue = { index?: number; path: string; message: string };
export type Outcome<T> = { ok: true; value: T } | { ok: false; status: 400 | 403 | 404 | 409 | 412 | 428; error: string; issues?: Issue[] };

/** A rule a Rollout is moving: only that rollout writes its weights until it ends (src/rollout). */
export interface RolloutLock {
  /** "namespace/name" of the Rollout. */
  rollout: string;
  namespace: string;
  route: string;
  /** Index of the rule in spec.rules. */
  rule: number;
}

/** Storage key -> new value, or undefined to delete. The Durable Object writes these after each mutation. */
export type Writes = Map<string, unknown>;

export const HISTORY_LIMIT = 100;
export const DEFAULT_STALE_AFTER_MS = 90_000;
/** Endpoints one cluster may have recorded at once (a push holds at most as many). */
export const MAX_RECORDED_PER_CLUSTER = 4096;

const stable = (v: unknown) => JSON.stringify(v);

export const issuePath = (path: PropertyKey[]) => dottedPath(path);

const toIssue = (i: LocatedIssue): Required<Issue> => ({ index: i.index ?? 0, path: dottedPath(i.path), message: i.message });

/**
 * Validates a list of resources as publish input through the shared pipeline (src/schema/validate.ts, the one the CLI
 * and the snapshot reader use): strict schemas, so `matchs:` is an error at `resources.0.spec.rules.0.matchs`.
 */
export function validateResources(resources: unknown[]): Outcome<{ resources: Resource[]; warnings: Required<Issue>[] }> {
  const v = validateResourceList(resources, ['resources']);
  if (v.errors.length) return { ok: false, status: 400, error: 'invalid resources', issues: v.errors.map(toIssue) };
  return { ok: true, value: { resources: v.resources, warnings: v.warnings.map(toIssue) } };
}

/** A URL's origin, so `https://A.example.com:443` and `https://a.example.com/` name the same endpoint. */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

interface Merged {
  resources: Resource[];
  /** cluster -> its endpoints that are not served, with the reason. */
  refused: Map<string, Refusal[]>;
  /** cluster -> how many of its endpoints are served. */
  served: Map<string, number>;
}

const isPublishedRollout = (resources: readonly Resource[], key: string) =>
  resources.some((r) => r.kind === 'Rollout' && resourceKey(r) === key);

export class CoordinatorState {
  meta: Meta;
  published: Resource[];
  history: HistoryEntry[];
  clusters: Map<string, ClusterRecord>;
  /** Signatures seen recently -> when they may be forgotten (ms). */
  nonces: Map<string, number>;
  /** Rollout "namespace/name" -> the rule it holds (persisted as `lock:<rollout>`). */
  locks: Map<string, RolloutLock>;
  writes: Writes = new Map();

  constructor(init?: {
    meta?: Meta;
    published?: Resource[];
    history?: HistoryEntry[];
    clusters?: ClusterRecord[];
    nonces?: [string, number][];
    locks?: RolloutLock[];
  }) {
    this.meta = init?.meta ?? { version: 0, publishedVersion: 0, createdAt: new Date(0).toISOString() };
    this.published = init?.published ?? [];
    this.history = [...(init?.history ?? [])].sort((a, b) => a.version - b.version);
    this.clusters = new Map((init?.clusters ?? []).map((c) => [c.cluster, c]));
    this.nonces = new Map(init?.nonces ?? []);
    this.locks = new Map((init?.locks ?? []).map((l) => [l.rollout, l]));
  }

  /** Hands the pending storage writes to the caller and forgets them. */
  drainWrites(): Writes {
    const w = this.writes;
    this.writes = new Map();
    return w;
  }

  private bump(now: number) {
    this.meta = { ...this.meta, version: this.meta.version + 1, createdAt: new Date(now).toISOString() };
    this.writes.set('meta', this.meta);
    return this.meta.version;
  }

  private saveCluster(c: ClusterRecord) {
    this.clusters.set(c.cluster, c);
    this.writes.set(`cluster:${c.cluster}`, c);
  }

  /** Remembers a signature; false if it was already used inside the replay window. */
  useNonce(signature: string, now: number): boolean {
    const until = this.nonces.get(signature);
    if (until !== undefined && until > now) return false;
    this.nonces.set(signature, now + REPLAY_WINDOW_MS);
    this.writes.set(`nonce:${signature}`, now + REPLAY_WINDOW_MS);
    return true;
  }

  expireNonces(now: number) {
    for (const [sig, until] of this.nonces)
      if (until <= now) {
        this.nonces.delete(sig);
        this.writes.set(`nonce:${sig}`, undefined);
      }
  }

  /** If-Match holds when no operator change happened after the version the caller read. */
  private precondition(ifMatch: string | undefined, required: boolean): Outcome<null> {
    if (ifMatch === undefined)
      return required
        ? { ok: false, status: 428, error: 'If-Match is required (use the ETag of GET /snapshot)' }
        : { ok: true, value: null };
    if (ifMatch.trim() === '*') return { ok: true, value: null };
    const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(ifMatch);
    const v = m ? Number(m[1]) : NaN;
    if (!(v >= this.meta.publishedVersion && v <= this.meta.version))
      return {
        ok: false,
        status: 412,
        error: `version conflict: resources changed at version ${this.meta.publishedVersion}, current is ${this.meta.version}`,
      };
    return { ok: true, value: null };
  }

  private commitPublished(resources: Resource[], now: number, reason: string) {
    const version = this.bump(now);
    this.published = resources;
    this.meta = { ...this.meta, publishedVersion: version };
    this.writes.set('meta', this.meta);
    this.writes.set('published', resources);
    const entry: HistoryEntry = { version, createdAt: new Date(now).toISOString(), reason, resources };
    this.history.push(entry);
    this.writes.set(`history:${version}`, entry);
    while (this.history.length > HISTORY_LIMIT) {
      const old = this.history.shift()!;
      this.writes.set(`history:${old.version}`, undefined);
    }
    return version;
  }

  publish(
    raw: unknown[],
    ifMatch: string | undefined,
    now: number,
    reason = 'publish',
  ): Outcome<{ version: number; warnings: Required<Issue>[] }> {
    const pre = this.precondition(ifMatch, true);
    if (!pre.ok) return pre;
    const v = validateResources(raw);
    if (!v.ok) return v;
    const held = this.heldWeightsChanged(v.value.resources);
    // 412 as for a stale ETag: the operator's view of these weights no longer holds while a Rollout moves them.
    if (held) return { ok: false, status: 412, error: held };
    const version = this.commitPublished(v.value.resources, now, reason);
    // A Rollout no longer published gives its rule back (its object finds out at its next weight change: 404).
    for (const rollout of [...this.locks.keys()]) if (!isPublishedRollout(v.value.resources, rollout)) this.releaseRollout(rollout);
    return { ok: true, value: { version, warnings: v.value.warnings } };
  }

  /** The blue/green switch: new weights for some backendRefs of one rule, as one operator change. */
  setWeights(body: WeightsBody, ifMatch: string | undefined, now: number): Outcome<{ version: number }> {
    const pre = this.precondition(ifMatch, false);
    if (!pre.ok) return pre;
    return this.applyWeights(body, now, `weights ${body.namespace}/${body.route}`, undefined);
  }

  /** Index of a route's rule by name or index, or -1. */
  private ruleIndex(namespace: string, route: string, rule: string | number): number {
    const r = this.published.find((x) => x.kind === 'HTTPRoute' && x.metadata.name === route && x.metadata.namespace === namespace);
    if (!r || r.kind !== 'HTTPRoute') return -1;
    const i = typeof rule === 'number' ? rule : r.spec.rules.findIndex((x) => x.name === rule);
    return i < r.spec.rules.length ? i : -1;
  }

  /** The lock on a rule, if a rollout holds it. */
  lockOf(namespace: string, route: string, rule: number): RolloutLock | undefined {
    for (const l of this.locks.values()) if (l.namespace === namespace && l.route === route && l.rule === rule) return l;
    return undefined;
  }

  /** Why a publish may not happen: it changes weights of a rule a rollout holds (null: it may). */
  private heldWeightsChanged(next: Resource[]): string | null {
    for (const l of this.locks.values()) {
      if (!isPublishedRollout(next, l.rollout)) continue; // deleting the Rollout releases its rule
      const find = (list: Resource[]) =>
        list.find((x): x is HTTPRoute => x.kind === 'HTTPRoute' && x.metadata.name === l.route && x.metadata.namespace === l.namespace);
      const weights = (r: HTTPRoute | undefined) =>
        stable((r?.spec.rules[l.rule]?.backendRefs ?? []).map((b) => [b.name, b.namespace, b.weight]));
      if (weights(find(next)) !== weights(find(this.published)))
        return `rollout ${l.rollout} is moving the weights of HTTPRoute ${l.namespace}/${l.route} rule ${l.rule}: pause and abort or promote it first`;
    }
    return null;
  }

  /**
   * A rollout's step: new weights for its rule as a new version. The first call takes the rule (another rollout
   * holding it is a conflict); `release` ends the hold (abort, promotion).
   */
  rolloutWeights(rollout: string, body: WeightsBody, release: boolean, now: number): Outcome<{ version: number }> {
    if (!isPublishedRollout(this.published, rollout)) return { ok: false, status: 404, error: `rollout ${rollout} is not published` };
    const rule = this.ruleIndex(body.namespace, body.route, body.rule);
    if (rule < 0)
      return { ok: false, status: 404, error: `HTTPRoute ${body.namespace}/${body.route} has no rule ${JSON.stringify(body.rule)}` };
    const holder = this.lockOf(body.namespace, body.route, rule);
    if (holder && holder.rollout !== rollout) return { ok: false, status: 409, error: `rule is held by rollout ${holder.rollout}` };
    const out = this.applyWeights(body, now, `rollout ${rollout}`, rollout);
    if (!out.ok) return out;
    if (release) {
      this.locks.delete(rollout);
      this.writes.set(`lock:${rollout}`, undefined);
    } else if (!holder) {
      const lock: RolloutLock = { rollout, namespace: body.namespace, route: body.route, rule };
      this.locks.set(rollout, lock);
      this.writes.set(`lock:${rollout}`, lock);
    }
    return out;
  }

  /** Drops a rollout's hold without changing weights (the Rollout was deleted or replaced). */
  releaseRollout(rollout: string): void {
    if (this.locks.delete(rollout)) this.writes.set(`lock:${rollout}`, undefined);
  }

  private applyWeights(body: WeightsBody, now: number, reason: string, rollout: string | undefined): Outcome<{ version: number }> {
    const held = this.lockOf(body.namespace, body.route, this.ruleIndex(body.namespace, body.route, body.rule));
    if (held && held.rollout !== rollout)
      return {
        ok: false,
        status: 412,
        error: `rollout ${held.rollout} is moving these weights: pause and abort or promote it first`,
      };
    const idx = this.published.findIndex(
      (r) => r.kind === 'HTTPRoute' && r.metadata.name === body.route && r.metadata.namespace === body.namespace,
    );
    if (idx < 0) return { ok: false, status: 404, error: `HTTPRoute ${body.namespace}/${body.route} is not published` };
    const route = structuredClone(this.published[idx]) as HTTPRoute;
    const ruleIndex = typeof body.rule === 'number' ? body.rule : route.spec.rules.findIndex((r) => r.name === body.rule);
    const rule = route.spec.rules[ruleIndex];
    if (!rule)
      return { ok: false, status: 404, error: `HTTPRoute ${body.namespace}/${body.route} has no rule ${JSON.stringify(body.rule)}` };
    const issues: Issue[] = [];
    body.backends.forEach((b, i) => {
      const refs = (rule.backendRefs ?? []).filter(
        (r) => r.name === b.name && (r.namespace ?? body.namespace) === (b.namespace ?? body.namespace),
      );
      if (!refs.length) issues.push({ path: issuePath(['backends', i, 'name']), message: `backendRef ${b.name} is not in the rule` });
      for (const r of refs) r.weight = b.weight;
    });
    if (issues.length) return { ok: false, status: 400, error: 'invalid weights', issues };
    const resources = [...this.published];
    resources[idx] = route;
    return { ok: true, value: { version: this.commitPublished(resources, now, reason) } };
  }

  rollback(toVersion: number, now: number): Outcome<{ version: number }> {
    const entry = [...this.history].reverse().find((h) => h.version <= toVersion);
    if (!entry || toVersion > this.meta.version || (this.history[0] && toVersion < this.history[0].version))
      return { ok: false, status: 404, error: `version ${toVersion} is not in the kept history` };
    return { ok: true, value: { version: this.commitPublished(entry.resources, now, `rollback to ${toVersion}`) } };
  }

  /**
   * Records an agent's report. The caller has checked that `cluster` is the signing cluster. What is recorded is not
   * necessarily served: the answer lists every endpoint that is not, with the reason (see `merge`).
   */
  push(
    cluster: string,
    body: PushBody,
    now: number,
  ): Outcome<{ version: number; changed: boolean; endpoints: number; accepted: number; refused: Refusal[] }> {
    const bad = body.endpoints.findIndex((e) => e.cluster !== cluster);
    if (body.cluster !== cluster || bad >= 0)
      return { ok: false, status: 403, error: `cluster ${cluster} may only report its own endpoints` };
    const prev = this.clusters.get(cluster) ?? { cluster, lastHeartbeat: null, stale: false, endpoints: [] };
    let endpoints: ReportedEndpoint[];
    if (body.policy === 'sync') endpoints = body.endpoints;
    else {
      const merged = new Map(prev.endpoints.map((e) => [reportedEndpointKey(e), e]));
      for (const e of body.endpoints) merged.set(reportedEndpointKey(e), e);
      endpoints = [...merged.values()];
    }
    endpoints = [...new Map(endpoints.map((e) => [reportedEndpointKey(e), e])).values()].sort((a, b) =>
      reportedEndpointKey(a).localeCompare(reportedEndpointKey(b)),
    );
    // upsert-only accumulates: bound what one cluster can make the coordinator store.
    if (endpoints.length > MAX_RECORDED_PER_CLUSTER)
      return {
        ok: false,
        status: 400,
        error: `cluster ${cluster} would hold ${endpoints.length} endpoints (at most ${MAX_RECORDED_PER_CLUSTER}): report with policy "sync"`,
      };
    // Cordoned: what the cluster already holds keeps serving (and may change readiness); nothing new gets in.
    const cordonRefused: Refusal[] = [];
    if (prev.cordoned) {
      const held = new Set(prev.endpoints.map(reportedEndpointKey));
      endpoints = endpoints.filter((e) => {
        if (held.has(reportedEndpointKey(e))) return true;
        cordonRefused.push({ backend: objectKey(e.backend.namespace, e.backend.name), url: e.url, reason: 'cordoned' });
        return false;
      });
    }
    const changed = prev.stale || stable(prev.endpoints) !== stable(endpoints);
    this.saveCluster({
      ...prev,
      lastHeartbeat: now,
      agentVersion: body.agentVersion ?? prev.agentVersion,
      stale: false,
      endpoints,
      withdrawn: prev.cordoned ? prev.withdrawn : undefined,
      cordonRefused: cordonRefused.length ? cordonRefused : undefined,
    });
    const version = changed ? this.bump(now) : this.meta.version;
    const merged = this.merge();
    return {
      ok: true,
      value: {
        version,
        changed,
        endpoints: endpoints.length,
        accepted: merged.served.get(cluster) ?? 0,
        refused: [...cordonRefused, ...(merged.refused.get(cluster) ?? [])],
      },
    };
  }

  /** Operator: stop admitting endpoints the cluster does not hold yet. What it holds keeps serving. */
  cordon(cluster: string): void {
    const prev = this.clusters.get(cluster) ?? { cluster, lastHeartbeat: null, stale: false, endpoints: [] };
    this.saveCluster({ ...prev, cordoned: true });
  }

  /** False when the cluster is not known. */
  uncordon(cluster: string): boolean {
    const prev = this.clusters.get(cluster);
    if (!prev) return false;
    this.saveCluster({ ...prev, cordoned: false, cordonRefused: undefined });
    return true;
  }

  /**
   * Operator: remove every endpoint of the cluster now, and cordon it so its next push does not bring them back
   * (uncordon lets it report again). Also the fate of a cluster whose key left AGENT_KEYS, after the stale timeout.
   */
  withdraw(cluster: string, now: number, reason: 'operator' | 'key-removed' = 'operator'): { version: number; withdrawn: number } {
    const prev = this.clusters.get(cluster) ?? { cluster, lastHeartbeat: null, stale: false, endpoints: [] };
    const withdrawn = prev.endpoints.length;
    // An operator's withdrawal also cordons; a revoked key needs no cordon (without a key the cluster cannot push, and
    // putting a key back is the operator's consent).
    const cordoned = reason === 'operator' ? true : prev.cordoned;
    this.saveCluster({ ...prev, endpoints: [], cordoned, withdrawn: { at: now, reason }, cordonRefused: undefined });
    return { version: withdrawn ? this.bump(now) : this.meta.version, withdrawn };
  }

  /**
   * Revocation removes: a cluster that is not in `known` (the clusters named in AGENT_KEYS) loses its endpoints once
   * it has been silent for the stale timeout. `known` null means the key set is unreadable: nothing is revoked then.
   */
  withdrawRevoked(now: number, known: ReadonlySet<string> | null, staleAfterMs: number): boolean {
    if (!known) return false;
    let changed = false;
    for (const c of [...this.clusters.values()]) {
      if (known.has(c.cluster) || c.endpoints.length === 0) continue;
      if ((c.lastHeartbeat ?? 0) + staleAfterMs > now) continue;
      this.withdraw(c.cluster, now, 'key-removed');
      changed = true;
    }
    return changed;
  }

  /** When the next cluster without a key would lose its endpoints, or null. */
  revokeDue(known: ReadonlySet<string> | null, staleAfterMs: number): number | null {
    if (!known) return null;
    let due: number | null = null;
    for (const c of this.clusters.values())
      if (!known.has(c.cluster) && c.endpoints.length > 0) {
        const at = (c.lastHeartbeat ?? 0) + staleAfterMs;
        due = due === null ? at : Math.min(due, at);
      }
    return due;
  }

  /** `endpoints`: how many the coordinator holds for the cluster, so an agent can tell that it should report again. */
  heartbeat(cluster: string, now: number, agentVersion?: string): { version: number; changed: boolean; endpoints: number } {
    const prev = this.clusters.get(cluster) ?? { cluster, lastHeartbeat: null, stale: false, endpoints: [] };
    this.saveCluster({ ...prev, lastHeartbeat: now, stale: false, agentVersion: agentVersion ?? prev.agentVersion });
    const changed = prev.stale && prev.endpoints.length > 0;
    return { version: changed ? this.bump(now) : this.meta.version, changed, endpoints: prev.endpoints.length };
  }

  /** Marks clusters without a heartbeat for `staleAfterMs` as stale (their endpoints stay). Returns the next check time. */
  markStale(now: number, staleAfterMs: number): { changed: boolean; nextCheck: number | null } {
    let changed = false;
    let nextCheck: number | null = null;
    for (const c of this.clusters.values()) {
      if (c.stale || c.lastHeartbeat === null) continue;
      const due = c.lastHeartbeat + staleAfterMs;
      if (due <= now) {
        this.saveCluster({ ...c, stale: true });
        if (c.endpoints.length) changed = true;
      } else nextCheck = nextCheck === null ? due : Math.min(nextCheck, due);
    }
    if (changed) this.bump(now);
    return { changed, nextCheck };
  }

  /** When the next cluster would turn stale, or null if none can. */
  markStaleDue(staleAfterMs: number): number | null {
    let due: number | null = null;
    for (const c of this.clusters.values())
      if (!c.stale && c.lastHeartbeat !== null)
        due = due === null ? c.lastHeartbeat + staleAfterMs : Math.min(due, c.lastHeartbeat + staleAfterMs);
    return due;
  }

  /**
   * Published resources with the admitted reported endpoints merged into their Backends. Consent is the Backend's
   * (`spec.clusters.allowed`, optionally per namespace); static endpoints are never replaced or re-weighted; each
   * cluster has its own quota (`maxEndpointsPerCluster`); and when the Backend's 256 places run short, clusters take
   * turns one endpoint at a time (in name order), so no cluster can crowd another out.
   */
  private merge(): Merged {
    const refused = new Map<string, Refusal[]>();
    const served = new Map<string, number>();
    const refuse = (cluster: string, r: Refusal) => {
      const list = refused.get(cluster) ?? [];
      list.push(r);
      refused.set(cluster, list);
    };
    const backends = new Map(this.published.flatMap((r) => (r.kind === 'Backend' ? [[resourceKey(r), r] as const] : [])));
    // Backend id -> cluster -> admitted candidates, in the cluster's (sorted) order.
    const candidates = new Map<string, Map<string, Endpoint[]>>();
    const clusters = [...this.clusters.values()].sort((a, b) => a.cluster.localeCompare(b.cluster));
    for (const c of clusters)
      for (const e of c.endpoints) {
        const { backend: ref, sourceNamespace, ...ep } = e;
        const id = objectKey(ref.namespace, ref.name);
        const r = (reason: Refusal['reason']) => refuse(c.cluster, { backend: id, url: e.url, reason });
        const b = backends.get(id);
        if (!b) {
          r('unknown-backend');
          continue;
        }
        const grant = b.spec.clusters?.allowed.find((a) => a.name === c.cluster);
        if (!grant) {
          r('not-admitted');
          continue;
        }
        if (grant.namespaces && !(sourceNamespace !== undefined && grant.namespaces.includes(sourceNamespace))) {
          r('namespace-not-admitted');
          continue;
        }
        if (b.spec.endpoints.some((s) => origin(s.url) === origin(e.url))) {
          r('static-endpoint');
          continue;
        }
        const byCluster = candidates.get(id) ?? new Map<string, Endpoint[]>();
        candidates.set(id, byCluster);
        const list = byCluster.get(c.cluster) ?? [];
        byCluster.set(c.cluster, list);
        if (list.length >= (b.spec.clusters?.maxEndpointsPerCluster ?? DEFAULT_MAX_ENDPOINTS_PER_CLUSTER)) {
          r('over-cap');
          continue;
        }
        list.push(Endpoint.parse({ ...ep, owner: c.cluster, ...(c.stale ? { stale: true } : {}) }));
      }

    const resources = this.published.map((res) => {
      if (res.kind !== 'Backend') return res;
      const byCluster = candidates.get(resourceKey(res));
      if (!byCluster) return res;
      let room = MAX_BACKEND_ENDPOINTS - res.spec.endpoints.length;
      const taken = new Set(res.spec.endpoints.map((e) => origin(e.url)));
      const accepted = new Map<string, Endpoint[]>();
      const queues = [...byCluster.entries()].map(([cluster, list]) => ({ cluster, list: [...list] }));
      // Round robin: one endpoint per cluster per turn.
      while (queues.some((q) => q.list.length)) {
        for (const q of queues) {
          const e = q.list.shift();
          if (!e) continue;
          const id = resourceKey(res);
          if (taken.has(origin(e.url))) refuse(q.cluster, { backend: id, url: e.url, reason: 'duplicate-url' });
          else if (room <= 0) refuse(q.cluster, { backend: id, url: e.url, reason: 'backend-full' });
          else {
            taken.add(origin(e.url));
            room--;
            accepted.set(q.cluster, [...(accepted.get(q.cluster) ?? []), e]);
            served.set(q.cluster, (served.get(q.cluster) ?? 0) + 1);
          }
        }
      }
      const extra = [...accepted.keys()].sort().flatMap((c) => accepted.get(c)!);
      const b: Backend = { ...res, spec: { ...res.spec, endpoints: [...res.spec.endpoints, ...extra] } };
      return b;
    });
    return { resources, refused, served };
  }

  /** Published resources with every admitted reported endpoint merged into its Backend. */
  snapshot(): Snapshot | null {
    if (this.meta.version === 0) return null;
    return Snapshot.parse(toSnapshot(this.merge().resources, this.meta.version, this.meta.createdAt));
  }

  /** Every cluster the coordinator knows of; `known` (the AGENT_KEYS clusters) adds those that never reported. */
  clusterInfo(known?: ReadonlySet<string> | null): ClusterInfo[] {
    const merged = this.merge();
    const names = new Set([...this.clusters.keys(), ...(known ?? [])]);
    return [...names].sort().map((name) => {
      const c = this.clusters.get(name) ?? { cluster: name, lastHeartbeat: null, stale: false, endpoints: [] };
      const refused = [...(c.cordonRefused ?? []), ...(merged.refused.get(name) ?? [])];
      return {
        cluster: c.cluster,
        lastHeartbeat: c.lastHeartbeat === null ? null : new Date(c.lastHeartbeat).toISOString(),
        stale: c.stale,
        endpoints: c.endpoints.length,
        served: merged.served.get(name) ?? 0,
        cordoned: c.cordoned ?? false,
        ...(known ? { keyConfigured: known.has(name) } : {}),
        ...(c.withdrawn ? { withdrawn: { at: new Date(c.withdrawn.at).toISOString(), reason: c.withdrawn.reason } } : {}),
        refused,
        unmatchedBackends: [...new Set(refused.filter((r) => r.reason === 'unknown-backend').map((r) => r.backend))],
        ...(c.agentVersion ? { agentVersion: c.agentVersion } : {}),
      };
    });
  }

  versions() {
    return this.history.map((h) => ({ version: h.version, createdAt: h.createdAt, reason: h.reason }));
  }
}
