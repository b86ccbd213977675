/** The dev outbound hook: resolveOverride emulation for plain requests and WebSocket upgrades, and its allow-list. */
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveOverrideOutbound } from '../../../src/dev/outbound.js';
import { startEchoUpstream, type Upstream } from '../../support/upstreams.js';
import { startWsEcho } from './ws-echo.js';

// A Worker that connects to the override target while keeping the client-facing hostname, as the gateway does.
const WORKER = `export default {
  async fetch(request) {
    const u = new URL(request.url);
    const init = { headers: request.headers, cf: { resolveOverride: u.searchParams.get('via') ?? '127.0.0.1' } };
    return fetch('http://app.example.com:' + u.searchParams.get('port') + u.pathname, init);
  },
};`;

let mf: Miniflare;
let http: Upstream;
let ws: Awaited<ReturnType<typeof startWsEcho>>;
let base: URL;

beforeAll(async () => {
  http = await startEchoUpstream('plain');
  ws = await startWsEcho();
  mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: WORKER,
      compatibilityDate: '2026-10-01',
      host: '127.0.0.1',
      port: 0,
      outboundService: resolveOverrideOutbound({ allowHost: (h) => h === '127.0.0.1' }),
    }),
  );
  base = await mf.ready;
}, 30_000);

afterAll(async () => {
  await mf?.dispose();
  await http?.close();
  await ws?.close();
});

describe('resolveOverrideOutbound', () => {
  it('connects to the override target and keeps the URL host as Host', async () => {
    const res = await fetch(new URL(`/hello?port=${http.port}`, base));
    const body = (await res.json()) as { upstream: string; url: string; headers: Record<string, string> };
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ upstream: 'plain', url: '/hello' });
    expect(body.headers.host).toBe(`app.example.com:${http.port}`);
  });

  it('refuses a target outside the allow-list', async () => {
    const res = await fetch(new URL(`/x?port=${http.port}&via=localhost`, base));
    expect(res.status).toBe(599);
    expect(await res.text()).toBe('outbound to localhost refused by the dev allow-list');
  });

  it('passes a WebSocket upgrade through to the override target, keeping Host', async () => {
    const url = new URL(`/chat?port=${ws.port}`, base);
    url.protocol = 'ws:';
    const socket = new WebSocket(url.toString());
    const messages: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(messages)}`)), 10_000);
      socket.addEventListener('error', () => reject(new Error('websocket error')));
      socket.addEventListener('open', () => socket.send('ping'));
      socket.addEventListener('message', (e) => {
        messages.push(String(e.data));
        if (messages.length === 2) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      await done;
    } finally {
      socket.close();
    }
    expect(messages).toEqual([`host:app.example.com:${ws.port}`, 'echo:ping']);
  }, 20_000);
});
