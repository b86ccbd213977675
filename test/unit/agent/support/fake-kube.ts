/** A loopback Kubernetes API server speaking enough of the protocol for client-node: list, watch from a
 * resourceVersion, 410 Gone after compaction, bookmarks, and Leases (get/create/replace with conflicts). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

interface Kind {
  apiVersion: string;
  kind: string;
}
type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
};
interface Event {
  rv: number;
  collection: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}
interface Watcher {
  collection: string;
  res: http.ServerResponse;
  bookmarks: boolean;
}

export const COLLECTIONS: Record<string, Kind> = {
  '/apis/networking.k8s.io/v1/ingresses': { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' },
  '/api/v1/services': { apiVersion: 'v1', kind: 'Service' },
  '/apis/discovery.k8s.io/v1/endpointslices': { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' },
};

/** Served only when the fake is started with Gateway API CRDs installed. */
export const GATEWAY_COLLECTIONS: Record<string, Kind> = {
  '/apis/gateway.networking.k8s.io/v1/gateways': { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway' },
  '/apis/gateway.networking.k8s.io/v1/httproutes': { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute' },
};

export class FakeKube {
  rv = 1000;
  private collections: Record<string, Kind>;

  constructor(opts: { gatewayApi?: boolean } = {}) {
    this.collections = { ...COLLECTIONS, ...(opts.gatewayApi ? GATEWAY_COLLECTIONS : {}) };
  }

  /** Watches starting below this resourceVersion get 410 Gone (etcd compaction). */
  compactedBelow = 0;
  private objects = new Map<string, Map<string, Obj>>();
  private history: Event[] = [];
  private watchers = new Set<Watcher>();
  private leases = new Map<string, Obj>();
  private failWatches = 0;
  private server = http.createServer((req, res) => this.handle(req, res));
  private bookmarkTimer: ReturnType<typeof setInterval> | undefined;
  readonly log: string[] = [];
  watchRequests = 0;
  listRequests = 0;
  gone = 0;
  bookmarksSent = 0;
  url = '';

  async start(bookmarkEveryMs = 200) {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.bookmarkTimer = setInterval(() => this.sendBookmarks(), bookmarkEveryMs);
    return this;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'agent', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'agent' }],
      currentContext: 'fake',
    });
    return kc;
  }

  async close() {
    clearInterval(this.bookmarkTimer);
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private store(collection: string) {
    let m = this.objects.get(collection);
    if (!m) this.objects.set(collection, (m = new Map()));
    return m;
  }

  private emit(collection: string, type: Event['type'], object: Obj) {
    const ev: Event = { rv: this.rv, collection, type, object: structuredClone(object) };
    this.history.push(ev);
    for (const w of this.watchers) if (w.collection === collection) w.res.write(`${JSON.stringify({ type, object: ev.object })}\n`);
  }

  /** Creates or replaces an object (kind from the collection). */
  apply(collection: string, obj: Obj) {
    const kind = this.collections[collection]!;
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const existing = this.store(collection).get(key);
    this.rv++;
    const stored: Obj = {
      ...structuredClone(obj),
      ...kind,
      metadata: { ...structuredClone(obj.metadata), resourceVersion: String(this.rv), uid: existing?.metadata.uid ?? `uid-${this.rv}` },
    };
    this.store(collection).set(key, stored);
    this.emit(collection, existing ? 'MODIFIED' : 'ADDED', stored);
  }

  remove(collection: string, namespace: string, name: string) {
    const key = `${namespace}/${name}`;
    const existing = this.store(collection).get(key);
    if (!existing) return;
    this.store(collection).delete(key);
    this.rv++;
    this.emit(collection, 'DELETED', { ...existing, metadata: { ...existing.metadata, resourceVersion: String(this.rv) } });
  }

  /** Forgets the watch history (as etcd compaction does): reconnecting watches must re-list after 410 Gone. */
  compact() {
    this.rv++;
    this.compactedBelow = this.rv;
    this.history = [];
  }

  /** Ends every open watch (API server restart, LB idle timeout): clients reconnect from their resourceVersion. */
  dropWatches() {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** The next `n` watch requests fail with 500 (client-node informers stop on that: the agent must restart them). */
  failNextWatches(n: number) {
    this.failWatches = n;
  }

  private sendBookmarks() {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const kind = this.collections[w.collection]!;
      this.bookmarksSent++;
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { ...kind, metadata: { resourceVersion: String(this.rv) } } })}\n`);
    }
  }

  private json(res: http.ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string) {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', this.url);
    this.log.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.headers.authorization !== 'Bearer fake-token') return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    const lease = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(url.pathname);
    if (lease) return this.handleLease(req, res, lease[1]!, lease[2]);
    const kind = this.collections[url.pathname];
    if (!kind || req.method !== 'GET')
      return this.status(res, 404, 'NotFound', `the server could not find the requested resource ${url.pathname}`);
    if (url.searchParams.get('watch') === 'true') return this.watch(url, res, url.pathname);
    this.listRequests++;
    const items = [...this.store(url.pathname).values()];
    return this.json(res, 200, {
      apiVersion: kind.apiVersion,
      kind: `${kind.kind}List`,
      metadata: { resourceVersion: String(this.rv) },
      items,
    });
  }

  private watch(url: URL, res: http.ServerResponse, collection: string) {
    this.watchRequests++;
    if (this.failWatches > 0) {
      this.failWatches--;
      return this.status(res, 500, 'InternalError', 'etcd leader changed');
    }
    const from = Number(url.searchParams.get('resourceVersion') || '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from && from < this.compactedBelow) {
      // What a real API server does: a 200 watch carrying one ERROR event with a 410 Status, then the end.
      this.gone++;
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedBelow})`, reason: 'Expired', code: 410 } })}\n`,
      );
      return;
    }
    if (!from) for (const o of this.store(collection).values()) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    else
      for (const ev of this.history)
        if (ev.collection === collection && ev.rv > from) res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
    const w: Watcher = { collection, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }

  private async handleLease(req: http.IncomingMessage, res: http.ServerResponse, ns: string, name: string | undefined) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Obj) : undefined;
    const key = `${ns}/${name ?? body?.metadata.name}`;
    const existing = this.leases.get(key);
    if (req.method === 'GET')
      return existing ? this.json(res, 200, existing) : this.status(res, 404, 'NotFound', `leases "${name}" not found`);
    if (req.method === 'POST') {
      if (existing) return this.status(res, 409, 'AlreadyExists', 'lease exists');
      this.rv++;
      const created = { ...body!, metadata: { ...body!.metadata, namespace: ns, resourceVersion: String(this.rv) } };
      this.leases.set(key, created);
      return this.json(res, 201, created);
    }
    if (req.method === 'PUT') {
      if (!existing) return this.status(res, 404, 'NotFound', 'lease not found');
      if (body?.metadata.resourceVersion !== existing.metadata.resourceVersion)
        return this.status(res, 409, 'Conflict', 'the object has been modified');
      this.rv++;
      const updated = { ...body!, metadata: { ...body!.metadata, resourceVersion: String(this.rv) } };
      this.leases.set(key, updated);
      return this.json(res, 200, updated);
    }
    return this.status(res, 405, 'MethodNotAllowed', 'method not allowed');
  }

  lease(ns: string, name: string) {
    return this.leases.get(`${ns}/${name}`);
  }
}
