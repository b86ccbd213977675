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

/** An upstream that slows down as it gets busier (issue 16's load-shedding scenario). */
export interface LoadSensitiveUpstream {
  name: string;
  region: string;
  port: number;
  inFlight: number;
  /** Highest number of requests in flight since the last reset. */
  maxInFlight: number;
  served: number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * Answers after `baseMs + perRequestMs × requests in flight` (this one included, counted on arrival), the way a
 * service that shares a CPU or a connection pool among its requests degrades: every extra concurrent request makes
 * all of them slower.
 */
export async function startLoadSensitiveUpstream(
  name: string,
  region: string,
  baseMs: number,
  perRequestMs: number,
): Promise<LoadSensitiveUpstream> {
  const u: LoadSensitiveUpstream = {
    name,
    region,
    port: 0,
    inFlight: 0,
    maxInFlight: 0,
    served: 0,
    reset() {
      u.maxInFlight = u.inFlight;
      u.served = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    req.resume();
    u.inFlight++;
    u.maxInFlight = Math.max(u.maxInFlight, u.inFlight);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      u.inFlight--;
    };
    res.on('close', finish);
    setTimeout(
      () => {
        finish();
        u.served++;
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
        res.end(JSON.stringify({ upstream: name, region }));
      },
      baseMs + perRequestMs * u.inFlight,
    );
  });
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  u.port = (server.address() as AddressInfo).port;
  return u;
}
