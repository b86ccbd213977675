/** Dev/test stand-in for Cloudflare's resolveOverride: connect to the override host while keeping the request's Host. */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { fetch as miniflareFetch } from 'miniflare';

export interface OutboundOptions {
  /** Hosts (lowercase, no port) that may be connected to; every other target is refused. */
  allowHost?: (host: string) => boolean;
}

/** Set on the stand-in response for a connection that failed (dev/test only). */
export const DEV_CONNECT_ERROR_HEADER = 'x-edgeway-dev-connect-error';

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'];

/**
 * Returns a miniflare `outboundService` function. miniflare ignores `cf.resolveOverride`, so without this the
 * Worker's subrequest would go to the URL's host (the client's Host). Production honours the override; this
 * emulates it with node:http, which lets us send the URL's Host to another address.
 */
export function resolveOverrideOutbound(options: OutboundOptions = {}) {
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const cf = (request as unknown as { cf?: { resolveOverride?: string } }).cf;
    const target = (cf?.resolveOverride ?? url.hostname).toLowerCase();
    if (options.allowHost && !options.allowHost(target))
      return new Response(`outbound to ${target} refused by the dev allow-list`, { status: 599 });
    if (request.headers.get('upgrade')?.toLowerCase() === 'websocket') return upgradeWebSocket(request, url, target);
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.includes(k)) headers[k] = v;
    });
    headers.host = url.host;
    const mod = url.protocol === 'https:' ? https : http;
    const body = request.body ? Readable.fromWeb(request.body as import('node:stream/web').ReadableStream) : undefined;
    return new Promise<Response>((resolve) => {
      const req = mod.request(
        {
          host: target,
          port: url.port || (url.protocol === 'https:' ? 443 : 80),
          method: request.method,
          path: url.pathname + url.search,
          headers,
          servername: url.hostname,
        },
        (res) => {
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined || HOP_BY_HOP.includes(k)) continue;
            for (const item of Array.isArray(v) ? v : [v]) out.append(k, item);
          }
          const status = res.statusCode ?? 502;
          const nullBody = status === 204 || status === 304 || request.method === 'HEAD';
          if (nullBody) res.resume();
          resolve(
            new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream), {
              status,
              statusText: res.statusMessage,
              headers: out,
            }),
          );
        },
      );
      // miniflare would turn a rejection into a 500 response; production fetch() throws instead. Mark the failure
      // so the Worker's dev-mode fetch can throw like production does (src/proxy/dev-fetch.ts).
      req.on('error', (err: NodeJS.ErrnoException) =>
        resolve(new Response(null, { status: 502, headers: { [DEV_CONNECT_ERROR_HEADER]: err.code ?? 'ECONNERROR' } })),
      );
      request.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')));
      if (body) body.pipe(req);
      else req.end();
    });
  };
}

/**
 * node:http cannot hand a 101 back to workerd, but miniflare's own fetch can: it opens the socket with `ws` and returns
 * a Response carrying a coupled WebSocket, which the outbound service passes through. We dial the override target
 * and send the original Host, as production does; the handshake headers are left to `ws` to generate.
 */
async function upgradeWebSocket(request: Request, url: URL, target: string): Promise<Response> {
  const dial = new URL(url);
  dial.hostname = target.includes(':') && !target.startsWith('[') ? `[${target}]` : target;
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => {
    if (HOP_BY_HOP.includes(k) || (k.startsWith('sec-websocket-') && k !== 'sec-websocket-protocol')) return;
    headers[k] = v;
  });
  headers.upgrade = 'websocket';
  headers.host = url.host;
  try {
    return (await miniflareFetch(dial.toString(), { method: 'GET', headers })) as unknown as Response;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ECONNERROR';
    return new Response(null, { status: 502, headers: { [DEV_CONNECT_ERROR_HEADER]: code } });
  }
}
