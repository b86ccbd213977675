/** A stand-in identity provider for workerd tests: JWKS documents set by the test (PUT), served and counted (GET). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Upstream } from './upstreams.js';

/**
 * `PUT /jwks/<name>` stores a document, `GET /jwks/<name>` serves it (404 before a PUT) and counts the fetch,
 * `GET /_count/<name>` answers `{"count":N}`. Each test uses its own name, so counts never mix.
 */
export async function startJwksServer(): Promise<Upstream> {
  const docs = new Map<string, string>();
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const jwks = /^\/jwks\/([\w-]+)$/.exec(url);
      const count = /^\/_count\/([\w-]+)$/.exec(url);
      const json = (status: number, body: string) => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(body);
      };
      if (jwks && req.method === 'PUT') {
        docs.set(jwks[1]!, Buffer.concat(chunks).toString('utf8'));
        json(204, '');
      } else if (jwks && req.method === 'GET') {
        counts.set(jwks[1]!, (counts.get(jwks[1]!) ?? 0) + 1);
        const doc = docs.get(jwks[1]!);
        json(doc === undefined ? 404 : 200, doc ?? '{"error":"no such JWKS"}');
      } else if (count) json(200, JSON.stringify({ count: counts.get(count[1]!) ?? 0 }));
      else json(404, '{"error":"not found"}');
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    name: 'jwks',
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
