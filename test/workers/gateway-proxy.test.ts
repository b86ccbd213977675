import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { backend, endpoint, get, publish, route, upstreamUrl } from './helpers.js';

describe('proxying', () => {
  beforeAll(async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      backend('green', [endpoint('green', { hostHeader: 'green.internal.example.com' })]),
      backend('mirror', [endpoint('euw1')]),
      route('api', {
        hostnames: ['api.example.com'],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/green' } }], backendRefs: [{ name: 'green' }] },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/v1' } }],
            filters: [
              {
                type: 'URLRewrite',
                urlRewrite: { hostname: 'rewritten.example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/api/v2' } },
              },
              {
                type: 'RequestHeaderModifier',
                requestHeaderModifier: {
                  set: [{ name: 'x-env', value: 'prod' }],
                  add: [{ name: 'x-multi', value: 'b' }],
                  remove: ['x-drop'],
                },
              },
              {
                type: 'ResponseHeaderModifier',
                responseHeaderModifier: { set: [{ name: 'x-served-by', value: 'edgeway' }], remove: ['x-upstream'] },
              },
            ],
            backendRefs: [{ name: 'blue' }],
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
            filters: [
              {
                type: 'RequestRedirect',
                requestRedirect: { scheme: 'https', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 301 },
              },
            ],
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/mirrored' } }],
            filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror' } } }],
            backendRefs: [{ name: 'blue' }],
          },
          { backendRefs: [{ name: 'blue' }] },
        ],
      }),
      route('catchall', { rules: [{ backendRefs: [{ name: 'blue' }] }] }),
    ]);
  });

  it('sets forwarding headers from CF-Connecting-IP and drops the forged ones', async () => {
    const { echo } = await get('http://api.example.com/x', {
      headers: {
        'cf-connecting-ip': '203.0.113.7',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=6.6.6.6',
        'x-real-ip': '6.6.6.6',
        'x-request-id': 'client-chosen',
      },
    });
    expect(echo?.headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(echo?.headers['x-forwarded-proto']).toBe('http');
    expect(echo?.headers['x-forwarded-host']).toBe('api.example.com');
    expect(echo?.headers.forwarded).toBeUndefined();
    expect(echo?.headers['x-real-ip']).toBeUndefined();
    expect(echo?.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('strips hop-by-hop headers, including those named in Connection', async () => {
    const { echo } = await get('http://api.example.com/x', {
      headers: {
        connection: 'x-secret-hop',
        'x-secret-hop': '1',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-authorization': 'Basic Zm9v',
      },
    });
    expect(echo?.headers['x-secret-hop']).toBeUndefined();
    expect(echo?.headers['proxy-authorization']).toBeUndefined();
    expect(echo?.headers.te).toBeUndefined();
  });

  it('continues the caller trace and starts one when absent', async () => {
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const { echo, res } = await get('http://api.example.com/x', { headers: { traceparent: incoming } });
    const tp = echo!.headers.traceparent!;
    expect(tp).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(tp).not.toBe(incoming);
    expect(res.headers.get('x-request-id')).toBe(echo!.headers['x-request-id']);
    const fresh = await get('http://api.example.com/x', { headers: { traceparent: 'garbage' } });
    expect(fresh.echo!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(fresh.echo!.headers.traceparent).not.toContain('garbage');
  });

  it('sends the Backend hostHeader instead of the client Host', async () => {
    const { echo } = await get('http://api.example.com/green/a');
    expect(echo?.upstream).toBe('green');
    expect(echo?.headers.host).toMatch(/^green\.internal\.example\.com:\d+$/);
  });

  it('applies URLRewrite and the header modifiers', async () => {
    const { echo, res } = await get('http://api.example.com/v1/items?q=1', { headers: { 'x-multi': 'a', 'x-drop': 'gone' } });
    expect(echo?.url).toBe('/api/v2/items?q=1');
    expect(echo?.headers.host).toMatch(/^rewritten\.example\.com:\d+$/);
    expect(echo?.headers['x-env']).toBe('prod');
    expect(echo?.headers['x-multi']).toBe('a,b'); // Gateway API: add appends after a comma, no space
    expect(echo?.headers['x-drop']).toBeUndefined();
    expect(res.headers.get('x-served-by')).toBe('edgeway');
    expect(res.headers.get('x-upstream')).toBeNull();
  });

  it('redirects without contacting a backend', async () => {
    const res = await SELF.fetch('http://api.example.com/old/page?a=1', { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('https://api.example.com/new/page?a=1');
  });

  it('streams request and response bodies', async () => {
    const payload = 'x'.repeat(200_000);
    const { echo } = await get('http://api.example.com/upload', { method: 'POST', body: payload });
    expect(echo?.method).toBe('POST');
    expect(echo?.body.length).toBe(200_000);
    const res = await SELF.fetch('http://api.example.com/_stream');
    const reader = res.body!.getReader();
    const chunks: string[] = [];
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(dec.decode(value));
    }
    expect(chunks.join('')).toBe('chunk0\nchunk1\nchunk2\n');
  });

  it('passes upstream redirects through instead of following them', async () => {
    const res = await SELF.fetch('http://api.example.com/_status/302', { redirect: 'manual' });
    expect(res.status).toBe(302);
  });

  it('uses the endpoint host for routes without hostnames, whatever Host the client sends', async () => {
    const { echo } = await get('http://anything.internal.corp/x');
    expect(echo?.headers.host).toBe(new URL(upstreamUrl('blue')).host);
  });

  it('mirrors a copy of the request', async () => {
    const { res, echo } = await get('http://api.example.com/mirrored/x');
    expect(res.status).toBe(200);
    expect(echo?.upstream).toBe('blue');
    const id = res.headers.get('x-request-id')!;
    let seen = false;
    for (let i = 0; i < 50 && !seen; i++) {
      seen = ((await (await fetch(`${upstreamUrl('euw1')}/_seen/${id}`)).json()) as { seen: boolean }).seen;
      if (!seen) await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen).toBe(true);
    const unseen = (await (await fetch(`${upstreamUrl('euw1')}/_seen/not-${id}`)).json()) as { seen: boolean };
    expect(unseen.seen).toBe(false);
  });

  it('passes a WebSocket upgrade through untouched', async () => {
    const res = await SELF.fetch('http://api.example.com/ws', { headers: { upgrade: 'websocket' } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const got = new Promise<string>((resolve) => ws.addEventListener('message', (e) => resolve(String(e.data))));
    ws.send('hello');
    expect(await got).toMatch(/^blue:hello:api\.example\.com:\d+$/);
    ws.close();
  });
});
