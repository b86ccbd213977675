/** Loopback stand-in upstreams for tests: each echoes what it received and can be told to misbehave. */
import { createHash } from 'node:crypto';
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
  // Request ids seen recently, so tests can prove a mirrored copy arrived (GET /_seen/<id>).
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const id = req.headers['x-request-id'];
    if (typeof id === 'string' && seen.push(id) > 500) seen.shift();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const send = (status: number) => {
        const body = JSON.stringify({
          upstream: name,
          method: req.method,
          url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        // /_status/<code>?retry-after=<value> sends that Retry-After (overload signals, gateway-circuit tests).
        const retryAfter = new URL(url, 'http://x').searchParams.get('retry-after');
        res.writeHead(status, {
          'content-type': 'application/json',
          'x-upstream': name,
          connection: 'keep-alive',
          'keep-alive': 'timeout=5',
          ...(retryAfter !== null ? { 'retry-after': retryAfter } : {}),
        });
        res.end(body);
      };
      const sleep = /^\/_sleep\/(\d+)/.exec(url);
      const status = /^\/_status\/(\d+)/.exec(url);
      const seenQuery = /^\/_seen\/(.+)$/.exec(url);
      if (seenQuery) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ seen: seen.includes(seenQuery[1]!) }));
      } else if (url.startsWith('/_stream')) {
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
  server.on('upgrade', (req, socket) => {
    // Minimal RFC 6455 echo: enough to prove the gateway passes a WebSocket through untouched.
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nx-upstream: ${name}\r\n\r\n`,
    );
    socket.on('data', (frame: Buffer) => {
      const opcode = frame[0]! & 0x0f;
      if (opcode === 0x8) return socket.end();
      const len = frame[1]! & 0x7f; // short text frames only (< 126 bytes)
      const mask = frame.subarray(2, 6);
      const text = Buffer.from(frame.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!)).toString('utf8');
      const reply = Buffer.from(`${name}:${text}:${req.headers.host}`);
      socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]));
    });
    socket.on('error', () => socket.destroy());
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
