/** The coordinator's state machine: pure, synchronous, clock passed in; the Durable Object only persists and flushes it. */
import { Endpoint, Resource, Snapshot, checkReferences, toSnapshot, type Backend, type HTTPRoute } from '../schema.js';
import type { ClusterInfo, PushBody, ReportedEndpoint, WeightsBody } from './api.js';
import { MAX_SKEW_MS } from './signing.js';

export interface ClusterRecord {
  cluster: string;
  lastHeartbeat: number | null;
  agentVersion?: string | undefined;
  stale: boolean;
  endpoints: ReportedEndpoint[];
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
export type Outcome<T> = { ok: true; value: T } | { ok: false; status: 400 | 403 | 404 | 412 | 428; error: string; issues?: Issue[] };

/** Storage key -> new value, or undefined to delete. The Durable Object writes these after each mutation. */
export type Writes = Map<string, unknown>;

export const HISTORY_LIMIT = 100;
export const DEFAULT_STALE_AFTER_MS = 90_000;

const endpointKey = (e: ReportedEndpoint) => `${e.backend.namespace}/${e.backend.name} ${e.url}`;
const backendId = (r: { metadata: { namespace: string; name: string } }) => `${r.metadata.namespace}/${r.metadata.name}`;
const stable = (v: unknown) => JSON.stringify(v);

export function issuePath(path: PropertyKey[]) {
  return path.map(String).join('.');
}

/** Validates a list of resources as publish input: schema issues and reference errors, all of them. */
export function validateResources(resources: unknown[]): Outcome<{ resources: Resource[]; warnings: Required<Issue>[] }> {
  const issues: Issue[] = [];
  const parsed: Resource[] = [];
  resources.forEach((raw, index) => {
    const r = Resource.safeParse(raw);
    if (r.success) parsed.push(r.data);
    else for (const i of r.error.issues) issues.push({ index, path: issuePath(['resources', index, ...i.path]), message: i.message });
  });
  if (issues.length) return { ok: false, status: 400, error: 'invalid resources', issues };
  const refs = checkReferences(parsed);
  const errors = refs.filter((i) => i.severity === 'error');
  if (errors.length)
    return {
      ok: false,
      status: 400,
      error: 'invalid resources',
      issues: errors.map((i) => ({ index: i.index, path: issuePath(['resources', i.index, ...i.path]), message: i.message })),
    };
  const warnings = refs
    .filter((i) => i.severity === 'warning')
    .map((i) => ({ index: i.index, path: issuePath(['resources', i.index, ...i.path]), message: i.message }));
  return { ok: true, value: { resources: parsed, warnings } };
}

export class CoordinatorState {
  meta: Meta;
  published: Resource[];
  history: HistoryEntry[];
  clusters: Map<string, ClusterRecord>;
  /** Signatures seen recently -> when they may be forgotten (ms). */
  nonces: Map<string, number>;
  writes: Writes = new Map();

  constructor(init?: {
    meta?: Meta;
    published?: Resource[];
    history?: HistoryEntry[];
    clusters?: ClusterRecord[];
    nonces?: [string, number][];
  }) {
    this.meta = init?.meta ?? { version: 0, publishedVersion: 0, createdAt: new Date(0).toISOString() };
    this.published = init?.published ?? [];
    this.history = [...(init?.history ?? [])].sort((a, b) => a.version - b.version);
    this.clusters = new Map((init?.clusters ?? []).map((c) => [c.cluster, c]));
    this.nonces = new Map(init?.nonces ?? []);
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
    this.nonces.set(signature, now + 2 * MAX_SKEW_MS);
    this.writes.set(`nonce:${signature}`, now + 2 * MAX_SKEW_MS);
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
    return { ok: true, value: { version: this.commitPublished(v.value.resources, now, reason), warnings: v.value.warnings } };
  }

  /** The blue/green switch: new weights for some backendRefs of one rule, as one operator change. */
  setWeights(body: WeightsBody, ifMatch: string | undefined, now: number): Outcome<{ version: number }> {
    const pre = this.precondition(ifMatch, false);
    if (!pre.ok) return pre;
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
    return { ok: true, value: { version: this.commitPublished(resources, now, `weights ${body.namespace}/${body.route}`) } };
  }

  rollback(toVersion: number, now: number): Outcome<{ version: number }> {
    const entry = [...this.history].reverse().find((h) => h.version <= toVersion);
    if (!entry || toVersion > this.meta.version || (this.history[0] && toVersion < this.history[0].version))
      return { ok: false, status: 404, error: `version ${toVersion} is not in the kept history` };
    return { ok: true, value: { version: this.commitPublished(entry.resources, now, `rollback to ${toVersion}`) } };
  }

  /** Records an agent's report. The caller has checked that `cluster` is the signing cluster. */
  push(cluster: string, body: PushBody, now: number): Outcome<{ version: number; changed: boolean; endpoints: number }> {
    const bad = body.endpoints.findIndex((e) => e.cluster !== cluster);
    if (body.cluster !== cluster || bad >= 0)
      return { ok: false, status: 403, error: `cluster ${cluster} may only report its own endpoints` };
    const prev = this.clusters.get(cluster) ?? { cluster, lastHeartbeat: null, stale: false, endpoints: [] };
    let endpoints: ReportedEndpoint[];
    if (body.policy === 'sync') endpoints = body.endpoints;
    else {
      const merged = new Map(prev.endpoints.map((e) => [endpointKey(e), e]));
      for (const e of body.endpoints) merged.set(endpointKey(e), e);
      endpoints = [...merged.values()];
    }
    endpoints = [...new Map(endpoints.map((e) => [endpointKey(e), e])).values()].sort((a, b) =>
      endpointKey(a).localeCompare(endpointKey(b)),
    );
    const changed = prev.stale || stable(prev.endpoints) !== stable(endpoints);
    this.saveCluster({ cluster, lastHeartbeat: now, agentVersion: body.agentVersion ?? prev.agentVersion, stale: false, endpoints });
    const version = changed ? this.bump(now) : this.meta.version;
    return { ok: true, value: { version, changed, endpoints: endpoints.length } };
  }

  heartbeat(cluster: string, now: number, agentVersion?: string): { version: number; changed: boolean } {
    const prev = this.clusters.get(cluster) ?? { cluster, lastHeartbeat: null, stale: false, endpoints: [] };
    this.saveCluster({ ...prev, lastHeartbeat: now, stale: false, agentVersion: agentVersion ?? prev.agentVersion });
    const changed = prev.stale && prev.endpoints.length > 0;
    return { version: changed ? this.bump(now) : this.meta.version, changed };
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

  /** Published resources with every cluster's reported endpoints merged into their Backends. */
  snapshot(): Snapshot | null {
    if (this.meta.version === 0) return null;
    const reported = new Map<string, Endpoint[]>();
    for (const c of [...this.clusters.values()].sort((a, b) => a.cluster.localeCompare(b.cluster)))
      for (const e of c.endpoints) {
        const { backend, sourceNamespace: _sourceNamespace, ...ep } = e;
        const id = `${backend.namespace}/${backend.name}`;
        const list = reported.get(id) ?? [];
        list.push(Endpoint.parse({ ...ep, owner: c.cluster, ...(c.stale ? { stale: true } : {}) }));
        reported.set(id, list);
      }
    const resources = this.published.map((r) => {
      if (r.kind !== 'Backend') return r;
      const extra = reported.get(backendId(r));
      if (!extra) return r;
      // Static endpoints (no owner) stay; an agent report for the same URL supersedes the static entry.
      const urls = new Set(extra.map((e) => e.url));
      const b: Backend = {
        ...r,
        spec: { ...r.spec, endpoints: [...r.spec.endpoints.filter((e) => e.owner || !urls.has(e.url)), ...extra].slice(0, 256) },
      };
      return b;
    });
    return Snapshot.parse(toSnapshot(resources, this.meta.version, this.meta.createdAt));
  }

  clusterInfo(): ClusterInfo[] {
    const backends = new Set(this.published.filter((r) => r.kind === 'Backend').map(backendId));
    return [...this.clusters.values()]
      .sort((a, b) => a.cluster.localeCompare(b.cluster))
      .map((c) => ({
        cluster: c.cluster,
        lastHeartbeat: c.lastHeartbeat === null ? null : new Date(c.lastHeartbeat).toISOString(),
        stale: c.stale,
        endpoints: c.endpoints.length,
        unmatchedBackends: [...new Set(c.endpoints.map((e) => `${e.backend.namespace}/${e.backend.name}`))].filter(
          (id) => !backends.has(id),
        ),
        ...(c.agentVersion ? { agentVersion: c.agentVersion } : {}),
      }));
  }

  versions() {
    return this.history.map((h) => ({ version: h.version, createdAt: h.createdAt, reason: h.reason }));
  }
}
