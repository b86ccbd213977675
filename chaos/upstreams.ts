/** Chaos upstreams: loopback HTTP servers, one per endpoint, that can be told to fail in the ways the issue lists. */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Mode = 'ok' | 'refuse' | 'hang' | '503' | 'slow';

export interface ChaosUpstream {
  name: string;
  region: string;
  port: number;
  mode: Mode;
  /** Arrival times (ms epoch) of proxied requests, health probes excluded. */
  hits: number[];
  probes: number;
  setMode(mode: Mode): Promise<void>;
  close(): Promise<void>;
}

/** Latency of 'slow': below the route's backendRequest and the probe timeout, so it must not eject anything. */
export const SLOW_MS = 400;

export async function startUpstream(name: string, region: string): Promise<ChaosUpstream> {
  const sockets = new Set<Socket>();
  const hung = new Set<http.ServerResponse>();
  let server: http.Server;
  const u: ChaosUpstream = {
    name,
    region,
    port: 0,
    mode: 'ok',
    hits: [],
    probes: 0,
    async setMode(mode) {
      const was = u.mode;
      u.mode = mode;
      if (mode === 'refuse' && was !== 'refuse') await stop();
      if (mode !== 'refuse' && was === 'refuse') await listen(u.port);
      if (mode !== 'hang') {
        for (const res of hung) res.destroy();
        hung.clear();
      }
    },
    async close() {
      for (const res of hung) res.destroy();
      if (u.mode !== 'refuse') await stop();
    },
  };
  const handler: http.RequestListener = (req, res) => {
    const probe = (req.url ?? '').startsWith('/healthz');
    if (probe) u.probes++;
    else u.hits.push(Date.now());
    req.resume();
    const send = (status: number) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': name });
      res.end(JSON.stringify({ upstream: name, region }));
    };
    switch (u.mode) {
      case 'hang':
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      case '503':
        return send(503);
      case 'slow':
        setTimeout(() => send(200), SLOW_MS);
        return;
      default:
        return send(200);
    }
  };
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server = http.createServer(handler);
      server.keepAliveTimeout = 2000;
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        u.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  // Closing the listener and every open socket makes new connections fail with ECONNREFUSED.
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  await listen(0);
  return u;
}
