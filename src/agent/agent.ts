/** The agent: informers -> debounced level-triggered reconcile -> signed push to the edge; health, metrics, leader. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { ReportedEndpoint } from '../admin/api.js';
import { objectKey } from '../schema/keys.js';
import { backoffDelay } from './backoff.js';
import type { AgentConfig } from './config.js';
import {
  REFUSAL_REASONS,
  desiredEndpoints,
  type ClusterView,
  type GatewayObject,
  type HTTPRouteObject,
  type Refusal,
  type Skipped,
} from './desired.js';
import { EdgeClient, FatalError, SoftError } from './edge.js';
import { LeaseElector } from './leader.js';
import { REFUSED_OBJECT_SERIES, createMetrics, type AgentMetrics } from './metrics.js';
import { plan } from './plan.js';
import { SupervisedInformer, describe } from './watch.js';

export const AGENT_VERSION = '0.1.0';

/** Everything the agent lists and watches (the Helm chart's ClusterRole must grant exactly this, read-only). */
export const WATCHED_RESOURCES = [
  { group: 'networking.k8s.io', resource: 'ingresses', optional: false },
  { group: 'discovery.k8s.io', resource: 'endpointslices', optional: false },
  { group: '', resource: 'services', optional: 'watchServices' },
  { group: 'gateway.networking.k8s.io', resource: 'gateways', optional: 'watchGatewayApi' },
  { group: 'gateway.networking.k8s.io', resource: 'httproutes', optional: 'watchGatewayApi' },
] as const;

export interface AgentDeps {
  kubeConfig: KubeConfig;
  log?: (line: Record<string, unknown>) => void;
  fetch?: typeof fetch;
  rand?: () => number;
  /** Called on a fatal error (the CLI exits non-zero; tests record it). */
  onFatal?: (err: Error) => void;
}

type AnyInformer = SupervisedInformer<KubernetesObject>;
const GATEWAY_GROUP = 'gateway.networking.k8s.io';
// Bookmarks keep the resourceVersion fresh on quiet resources, so a reconnect rarely needs a full re-list (410).
const BOOKMARKS = '?allowWatchBookmarks=true';

export class Agent {
  readonly metrics: AgentMetrics;
  private readonly log: (line: Record<string, unknown>) => void;
  private readonly edge: EdgeClient;
  private readonly informers = new Map<string, AnyInformer>();
  private readonly elector: LeaseElector | undefined;
  private server: http.Server | undefined;
  private timers: ReturnType<typeof setInterval>[] = [];
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  private softErrors = 0;
  private gatewayApi: 'unknown' | 'present' | 'absent' = 'unknown';
  /** What the edge holds for this cluster as far as we know; null = unknown, next run reports everything. */
  private applied: ReportedEndpoint[] | null = null;
  /** Objects refused in the last reconcile, by "<kind> <namespace>/<name>" (each logged once per reason). */
  private refusals = new Map<string, Refusal>();
  private skipped: Skipped[] = [];
  /** Size of the desired set in the last reconcile (as leader). */
  private desiredCount = 0;
  /** How many endpoints the edge said it recorded for this cluster after the last push; null = no push yet. */
  private recorded: number | null = null;
  /** Successful pushes so far (a heartbeat answer that crossed a push is not compared). */
  private pushes = 0;
  /**
   * Heartbeats are numbered; one in flight at a time, each may cause at most one re-push (remembered by its number), and
   * they run once per EDGEWAY_HEARTBEAT_SECONDS: at most one re-push per heartbeat interval.
   */
  private heartbeatTick = 0;
  private repushTick = -1;
  private heartbeatInFlight = false;
  lastSyncAt = 0;
  lastPushAt = 0;

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.metrics = createMetrics({ defaultMetrics: false });
    this.log = deps.log ?? ((line) => console.log(JSON.stringify({ at: new Date().toISOString(), ...line })));
    this.edge = new EdgeClient({
      edgeUrl: config.edgeUrl,
      cluster: config.cluster,
      key: config.key,
      keyId: config.keyId,
      audience: config.audience,
      agentVersion: AGENT_VERSION,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    if (config.leaderElection)
      this.elector = new LeaseElector(deps.kubeConfig, {
        namespace: config.namespace,
        name: config.leaseName,
        identity: config.identity,
        leaseDurationMs: config.leaseDurationMs,
        log: this.log,
        onChange: (leader) => {
          this.metrics.leader.set(leader ? 1 : 0);
          if (!leader) this.resetRefusals(); // a standby computes nothing: do not export the old leader view
          // A new leader does not know what the edge holds: report everything once.
          this.applied = null;
          if (leader) this.schedule('leader');
        },
      });
    else this.metrics.leader.set(1);
  }

  get isLeader() {
    return this.elector ? this.elector.leader : true;
  }

  private watch<T extends KubernetesObject>(
    resource: string,
    path: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
  ) {
    const inf = new SupervisedInformer<T>(resource, this.deps.kubeConfig, path, list as never, {
      backoffBaseMs: this.config.backoffBaseMs,
      backoffMaxMs: this.config.backoffMaxMs,
      stallMs: this.config.stallMs,
      ...(this.deps.rand ? { rand: this.deps.rand } : {}),
      log: this.log,
      onChange: (r) => {
        this.metrics.events.inc({ resource: r });
        this.schedule(r);
      },
      onRestart: (r, cause) => this.metrics.watchRestarts.inc({ resource: r, cause }),
    });
    this.informers.set(resource, inf as unknown as AnyInformer);
    return inf;
  }

  /** Starts the Gateway API informers once the CRDs exist (checked at start and on every resync). */
  private async detectGatewayApi() {
    if (!this.config.watchGatewayApi || this.gatewayApi === 'present') return;
    const custom = this.deps.kubeConfig.makeApiClient(CustomObjectsApi);
    try {
      await custom.listClusterCustomObject({ group: GATEWAY_GROUP, version: 'v1', plural: 'gateways', limit: 1 });
    } catch (err) {
      if ((err as { code?: number }).code === 404) {
        if (this.gatewayApi !== 'absent') this.log({ level: 'info', event: 'agent.gateway_api.absent' });
        this.gatewayApi = 'absent';
      } else this.log({ level: 'warn', event: 'agent.gateway_api.probe_failed', error: describe(err) });
      return;
    }
    this.gatewayApi = 'present';
    const list = (plural: string) => () => custom.listClusterCustomObject({ group: GATEWAY_GROUP, version: 'v1', plural });
    await Promise.all([
      this.watch<KubernetesObject>('gateways', `/apis/${GATEWAY_GROUP}/v1/gateways${BOOKMARKS}`, list('gateways')).start(),
      this.watch<KubernetesObject>('httproutes', `/apis/${GATEWAY_GROUP}/v1/httproutes${BOOKMARKS}`, list('httproutes')).start(),
    ]);
  }

  async start(): Promise<{ port: number }> {
    const kc = this.deps.kubeConfig;
    const net = kc.makeApiClient(NetworkingV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const disc = kc.makeApiClient(DiscoveryV1Api);
    this.server = http.createServer((req, res) => void this.serveHttp(req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.config.httpPort, resolve));
    this.log({
      level: this.config.ingressClasses.length || this.config.gatewayClasses.length ? 'info' : 'warn',
      event: 'agent.scope',
      ingressClasses: this.config.ingressClasses,
      gatewayClasses: this.config.gatewayClasses,
      claimUnannotatedIngresses: this.config.claimUnannotatedIngresses,
      crossNamespaceGrants: this.config.crossNamespaceGrants.length,
      services: this.config.watchServices,
    });
    const starts = [
      this.watch('ingresses', `/apis/networking.k8s.io/v1/ingresses${BOOKMARKS}`, () => net.listIngressForAllNamespaces()).start(),
      this.watch('endpointslices', `/apis/discovery.k8s.io/v1/endpointslices${BOOKMARKS}`, () =>
        disc.listEndpointSliceForAllNamespaces(),
      ).start(),
    ];
    if (this.config.watchServices)
      starts.push(this.watch('services', `/api/v1/services${BOOKMARKS}`, () => core.listServiceForAllNamespaces()).start());
    await Promise.all(starts);
    await this.detectGatewayApi();
    this.elector?.start();
    this.timers.push(
      setInterval(() => {
        void this.detectGatewayApi();
        this.schedule('resync');
      }, this.config.resyncMs),
      setInterval(() => void this.heartbeat(), this.config.heartbeatMs),
      setInterval(
        () => {
          const now = Date.now();
          for (const inf of this.informers.values()) inf.checkStall(now);
        },
        Math.min(this.config.stallMs, 10_000),
      ),
    );
    this.schedule('start');
    return { port: (this.server.address() as AddressInfo).port };
  }

  /**
   * Any event only schedules a reconcile. The first event starts the timer and later ones ride along, so a
   * burst (reconnects replay everything, client-node #301) costs one run and latency stays <= debounceMs.
   */
  schedule(_reason: string, delayMs = this.config.debounceMs) {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reconcile();
    }, delayMs);
  }

  view(): ClusterView {
    const list = <T>(name: string) => (this.informers.get(name)?.list() ?? []) as unknown as T[];
    return {
      ingresses: list('ingresses'),
      services: list('services'),
      endpointSlices: list('endpointslices'),
      gateways: list<GatewayObject>('gateways'),
      httpRoutes: list<HTTPRouteObject>('httproutes'),
    };
  }

  /** One level-triggered pass over the informer caches. */
  async reconcile() {
    if (this.stopped) return;
    this.running = true;
    const end = this.metrics.reconcileSeconds.startTimer();
    let retryIn: number | undefined;
    try {
      if (!this.isLeader) {
        this.metrics.reconciles.inc({ result: 'standby' });
        return;
      }
      if (![...this.informers.values()].every((i) => i.synced)) return; // never report from a half-filled cache
      const { endpoints, skipped, refused } = desiredEndpoints(this.view(), this.config);
      this.desiredCount = endpoints.length;
      this.skipped = skipped;
      this.metrics.skipped.set(skipped.length);
      for (const s of skipped) this.log({ level: 'debug', event: 'agent.skipped', ...s });
      this.recordRefusals(refused);
      const p = plan(endpoints, this.applied, this.config.policy);
      if (!p.changed) {
        this.metrics.reconciles.inc({ result: 'unchanged' });
        this.markSynced();
        return;
      }
      const result = await this.edge.push(this.config.policy, p.report);
      this.applied = p.next;
      this.pushes++;
      const recorded = (result as { endpoints?: unknown } | null)?.endpoints;
      this.recorded = typeof recorded === 'number' ? recorded : p.next.length;
      this.lastPushAt = Date.now();
      this.metrics.endpoints.set(p.next.length);
      this.metrics.reconciles.inc({ result: 'pushed' });
      this.log({
        level: 'info',
        event: 'agent.pushed',
        version: result.version,
        upserts: p.upserts.length,
        withdrawals: this.config.policy === 'sync' ? p.withdrawals.length : 0,
      });
      // The edge may record endpoints without serving them (a Backend that does not admit this cluster or namespace).
      const edgeRefused = (result as { refused?: { backend: string; url: string; reason: string }[] }).refused ?? [];
      this.metrics.edgeRefused.set(edgeRefused.length);
      if (edgeRefused.length)
        this.log({ level: 'warn', event: 'agent.edge_refused', count: edgeRefused.length, sample: edgeRefused.slice(0, 5) });
      this.markSynced();
    } catch (err) {
      this.metrics.reconciles.inc({ result: 'error' });
      retryIn = this.handleError(err);
    } finally {
      end();
      this.running = false;
      if (retryIn !== undefined) this.schedule('retry', retryIn);
      else if (this.again) {
        this.again = false;
        this.schedule('coalesced');
      }
    }
  }

  /** Logs each refusal once (again only if its reason or message changes), counts it, and exports the current set. */
  private recordRefusals(refused: Refusal[]) {
    const next = new Map(refused.map((r) => [`${r.kind} ${objectKey(r.namespace, r.name)}`, r]));
    for (const [id, r] of next) {
      const prev = this.refusals.get(id);
      if (prev && prev.reason === r.reason && prev.message === r.message) continue;
      this.metrics.refusals.inc({ reason: r.reason });
      this.log({
        level: 'warn',
        event: 'agent.refused',
        kind: r.kind,
        namespace: r.namespace,
        name: r.name,
        reason: r.reason,
        message: r.message,
      });
    }
    for (const [id, r] of this.refusals)
      if (!next.has(id)) this.log({ level: 'info', event: 'agent.refusal_cleared', kind: r.kind, namespace: r.namespace, name: r.name });
    this.refusals = next;
    this.exportRefusals();
  }

  private resetRefusals() {
    this.refusals = new Map();
    this.skipped = [];
    this.exportRefusals();
  }

  private exportRefusals() {
    const byReason = new Map<string, number>(REFUSAL_REASONS.map((r) => [r, 0]));
    for (const r of this.refusals.values()) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
    for (const [reason, n] of byReason) this.metrics.refused.set({ reason }, n);
    this.metrics.refusedObject.reset();
    for (const r of [...this.refusals.values()].slice(0, REFUSED_OBJECT_SERIES))
      this.metrics.refusedObject.set({ kind: r.kind, namespace: r.namespace, name: r.name, reason: r.reason }, 1);
  }

  /** The agent's view for operators (`GET /status`): role, sync state and every refused or skipped object. */
  status(now = Date.now()) {
    const r = this.readiness(now);
    return {
      cluster: this.config.cluster,
      // What the agent signs with (never the key): keyid "<cluster>/<keyId>" and, when set, the audience as `tag`.
      keyId: this.config.keyId ?? null,
      audience: this.config.audience ?? null,
      leader: this.isLeader,
      ready: r.ready,
      reason: r.reason,
      lastSyncAt: this.lastSyncAt ? new Date(this.lastSyncAt).toISOString() : null,
      lastPushAt: this.lastPushAt ? new Date(this.lastPushAt).toISOString() : null,
      endpoints: this.applied?.length ?? null,
      scope: {
        ingressClasses: this.config.ingressClasses,
        gatewayClasses: this.config.gatewayClasses,
        claimUnannotatedIngresses: this.config.claimUnannotatedIngresses,
        crossNamespaceGrants: this.config.crossNamespaceGrants,
      },
      refused: [...this.refusals.values()],
      skipped: this.skipped,
    };
  }

  private markSynced() {
    this.softErrors = 0;
    this.lastSyncAt = Date.now();
    this.metrics.lastSync.set(this.lastSyncAt / 1000);
  }

  /** Soft errors are counted and retried with backoff; fatal ones stop the agent. Returns the retry delay. */
  private handleError(err: unknown): number | undefined {
    if (err instanceof SoftError || !(err instanceof FatalError)) {
      this.softErrors++;
      this.metrics.errors.inc({ kind: 'soft' });
      this.log({ level: 'warn', event: 'agent.soft_error', error: describe(err), consecutive: this.softErrors });
      if (this.config.maxSoftErrors > 0 && this.softErrors >= this.config.maxSoftErrors)
        return this.fatal(new FatalError(`${this.softErrors} consecutive soft errors`));
      this.applied = null; // unknown whether the push landed
      return backoffDelay(this.softErrors - 1, this.config.backoffBaseMs, this.config.backoffMaxMs, this.deps.rand ?? Math.random);
    }
    return this.fatal(err);
  }

  private fatal(err: Error): undefined {
    this.metrics.errors.inc({ kind: 'fatal' });
    this.log({ level: 'error', event: 'agent.fatal', error: describe(err) });
    (this.deps.onFatal ?? (() => process.exit(1)))(err);
    return undefined;
  }

  private async heartbeat() {
    if (!this.isLeader || this.stopped || this.heartbeatInFlight) return;
    const tick = ++this.heartbeatTick;
    const pushesBefore = this.pushes;
    this.heartbeatInFlight = true;
    try {
      const answer = (await this.edge.heartbeat()) as { endpoints?: unknown } | null;
      if (typeof answer?.endpoints === 'number' && this.pushes === pushesBefore && !this.running)
        this.checkEdgeHolds(answer.endpoints, tick);
    } catch (err) {
      if (err instanceof FatalError) this.fatal(err);
      else {
        this.metrics.errors.inc({ kind: 'soft' });
        this.log({ level: 'warn', event: 'agent.heartbeat_failed', error: describe(err) });
      }
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  /**
   * The heartbeat answer says how many endpoints the edge holds for this cluster. Fewer than it recorded after our last
   * push (an operator withdrew them, the edge lost its state), or none while we have some to report: forget what we
   * think it holds and report the full set again. At most once per heartbeat interval, so a cordoned cluster (whose
   * new endpoints the edge refuses) costs one push per interval, which is also how an uncordon is noticed.
   */
  private checkEdgeHolds(held: number, tick: number) {
    if (this.stopped || !this.isLeader || this.applied === null || this.recorded === null || this.desiredCount === 0) return;
    if (held > 0 && held >= this.recorded) return;
    if (tick === this.repushTick) return;
    // Warn when it starts; while it goes on (a cordoned cluster) every heartbeat would warn again.
    const level = tick === this.repushTick + 1 ? 'debug' : 'warn';
    this.repushTick = tick;
    this.log({ level, event: 'agent.edge_lost_endpoints', held, recorded: this.recorded, desired: this.desiredCount });
    this.applied = null; // the next reconcile reports the full desired set
    this.schedule('edge-lost-endpoints');
  }

  /** Ready: caches filled, and (if leading) the edge confirmed in sync recently. Standbys are ready too. */
  readiness(now = Date.now()): { ready: boolean; reason: string } {
    const unsynced = [...this.informers.values()].filter((i) => !i.synced).map((i) => i.resource);
    if (unsynced.length) return { ready: false, reason: `waiting for ${unsynced.join(', ')}` };
    if (!this.isLeader) return { ready: true, reason: 'standby' };
    const maxAge = Math.max(3 * this.config.resyncMs, 60_000);
    if (now - this.lastSyncAt > maxAge)
      return { ready: false, reason: `last sync with the edge ${Math.round((now - this.lastSyncAt) / 1000)}s ago` };
    return { ready: true, reason: 'in sync' };
  }

  private async serveHttp(req: http.IncomingMessage, res: http.ServerResponse) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(this.stopped ? 503 : 200, { 'content-type': 'text/plain' }).end(this.stopped ? 'stopping\n' : 'ok\n');
    } else if (path === '/readyz') {
      const r = this.readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${r.reason}\n`);
    } else if (path === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(this.status(), null, 2)}\n`);
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(await this.metrics.registry.metrics());
    } else res.writeHead(404).end();
  }

  /** Clean shutdown: stop reconciling, release the Lease, close watches and the HTTP server. */
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    if (this.debounce) clearTimeout(this.debounce);
    for (const t of this.timers) clearInterval(t);
    await this.elector?.stop();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
  }
}
