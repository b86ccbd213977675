/** A loopback stand-in for the edge's agent endpoints: verifies signatures like the Worker and records reports. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyRequest, type AgentKeys } from '../../../../src/admin/signing.js';

export interface StubEdge {
  url: string;
  pushes: { cluster: string; keyid: string; at: number; body: { policy: string; endpoints: { url: string; readyEndpoints?: number }[] } }[];
  heartbeats: number;
  /** Every refused signature's reason, in order. */
  refusals: string[];
  /** Status codes to answer the next pushes with (then 200). */
  failNext: number[];
  /** Endpoints the edge says it recorded but does not serve, returned with every push answer. */
  refused: { backend: string; url: string; reason: string }[];
  /** URLs the edge holds per cluster (what a `sync` push recorded), answered as `endpoints` by pushes and heartbeats. */
  held: Map<string, Set<string>>;
  /** Like the operator's withdraw: drops what the cluster holds and cordons it (new endpoints are not recorded). */
  withdraw(cluster: string): void;
  uncordon(cluster: string): void;
  close(): Promise<void>;
}

export async function startStubEdge(keys: AgentKeys | Record<string, string>, opts: { audience?: string } = {}): Promise<StubEdge> {
  const cordoned = new Set<string>();
  const edge: StubEdge = {
    url: '',
    pushes: [],
    heartbeats: 0,
    refusals: [],
    failNext: [],
    refused: [],
    held: new Map(),
    withdraw: (cluster) => {
      edge.held.set(cluster, new Set());
      cordoned.add(cluster);
    },
    uncordon: (cluster) => cordoned.delete(cluster),
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString();
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
      const v = await verifyRequest({
        headers,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        body,
        keys,
        now: Date.now(),
        ...(opts.audience ? { audience: opts.audience } : {}),
      });
      if (!v.ok) {
        edge.refusals.push(v.reason);
        return res.writeHead(401).end(JSON.stringify({ error: 'unauthorized' }));
      }
      const held = edge.held.get(v.cluster) ?? new Set<string>();
      if (req.url?.endsWith('/agent/heartbeat')) {
        edge.heartbeats++;
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ version: 1, changed: false, endpoints: held.size }));
      }
      const fail = edge.failNext.shift();
      if (fail) return res.writeHead(fail).end('{"error":"injected"}');
      const parsed = JSON.parse(body) as StubEdge['pushes'][number]['body'];
      edge.pushes.push({ cluster: v.cluster, keyid: v.keyid, at: Date.now(), body: parsed });
      // sync replaces; a cordoned cluster keeps only what it already holds (as in src/admin/state.ts).
      const urls = parsed.endpoints.map((e) => e.url);
      const next = new Set(cordoned.has(v.cluster) ? urls.filter((u) => held.has(u)) : urls);
      edge.held.set(v.cluster, next);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          version: edge.pushes.length,
          changed: true,
          endpoints: next.size,
          refused: [
            ...edge.refused,
            ...urls.filter((u) => !next.has(u)).map((url) => ({ backend: 'default/web', url, reason: 'cordoned' })),
          ],
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  edge.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  edge.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return edge;
}

export async function waitFor<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
