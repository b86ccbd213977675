/** A tiny WebSocket echo upstream (RFC 6455 handshake and short text frames only), so tests need no extra package. */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const textFrame = (text: string) => {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('test frames are short');
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
};

/** Greets with `host:<Host header>`, then answers each text message `m` with `echo:m`. */
export async function startWsEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = http.createServer((_req, res) => res.writeHead(426).end('websocket only'));
  server.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.write(textFrame(`host:${req.headers.host}`));
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 6) {
        const opcode = buf[0]! & 0x0f;
        const len = buf[1]! & 0x7f; // clients mask; short frames only
        if (len > 125 || buf.length < 6 + len) return;
        const mask = buf.subarray(2, 6);
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i++) data[i] = buf[6 + i]! ^ mask[i % 4]!;
        buf = buf.subarray(6 + len);
        if (opcode === 0x8) {
          socket.end(Buffer.from([0x88, 0]));
          return;
        }
        if (opcode === 0x1) socket.write(textFrame(`echo:${data.toString()}`));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
