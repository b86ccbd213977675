/** Loopback stand-in upstreams for tests: each echoes what it received and can be told to misbehave. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upstream {
  name: string;
  port: number;
  close(): Promise<void>;
}

/**
 * An echo server. Paths starting with /_sleep/<ms> answer after that delay, /_status/<code> answer that status,
 * /_stream writes chunks over time. Every response is JSON naming the upstream and echoing method, url, headers, body.
 */
export async function startEchoUpstream(name: string): Promise<Upstream> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const send = (status: number) => {
        const body = JSON.stringify({ upstream: name, method: req.method, url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': name, connection: 'keep-alive', 'keep-alive': 'timeout=5' });
        res.end(body);
      };
      const sleep = /^\/_sleep\/(\d+)/.exec(url);
      const status = /^\/_status\/(\d+)/.exec(url);
      if (url.startsWith('/_stream')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
        let n = 0;
        const t = setInterval(() => {
          res.write(`chunk${n}\n`);
          if (++n === 3) {
            clearInterval(t);
            res.end();
          }
        }, 20);
      } else if (sleep) setTimeout(() => send(200), Number(sleep[1]));
      else send(status ? Number(status[1]) : 200);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A port on which nothing listens: connections are refused. */
export async function refusedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
