/** A loopback stand-in for the edge's agent endpoints: verifies signatures like the Worker and records reports. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyRequest } from '../../../../src/admin/signing.js';

export interface StubEdge {
  url: string;
  pushes: { cluster: string; body: { policy: string; endpoints: { url: string; readyEndpoints?: number }[] } }[];
  heartbeats: number;
  /** Status codes to answer the next pushes with (then 200). */
  failNext: number[];
  /** Endpoints the edge says it recorded but does not serve, returned with every push answer. */
  refused: { backend: string; url: string; reason: string }[];
  close(): Promise<void>;
}

export async function startStubEdge(keys: Record<string, string>): Promise<StubEdge> {
  const edge: StubEdge = { url: '', pushes: [], heartbeats: 0, failNext: [], refused: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString();
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
      const v = await verifyRequest({ headers, method: req.method ?? 'GET', path: req.url ?? '/', body, keys, now: Date.now() });
      if (!v.ok) return res.writeHead(401).end(JSON.stringify({ error: v.reason }));
      if (req.url?.endsWith('/agent/heartbeat')) {
        edge.heartbeats++;
        return res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":1,"changed":false}');
      }
      const fail = edge.failNext.shift();
      if (fail) return res.writeHead(fail).end('{"error":"injected"}');
      edge.pushes.push({ cluster: v.cluster, body: JSON.parse(body) });
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ version: edge.pushes.length, changed: true, endpoints: 0, refused: edge.refused }));
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
