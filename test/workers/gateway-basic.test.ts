import { describe, expect, it, beforeAll } from 'vitest';
import { serveRequest } from '../../src/app/gateway.js';
import { IsolateHealth } from '../../src/health/registry.js';
import { Snapshot } from '../../src/schema/snapshot.js';
import { compileTable } from '../../src/table/compile.js';
import { backend, endpoint, get, publish, route } from './helpers.js';

describe('gateway basics', () => {
  beforeAll(async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      route('shop', { hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'blue', port: 80 }] }] }),
    ]);
  });

  it('proxies a matching request and keeps the client Host', async () => {
    const { res, echo } = await get('http://shop.example.com/cart?x=1');
    expect(res.status).toBe(200);
    expect(echo?.upstream).toBe('blue');
    expect(echo?.url).toBe('/cart?x=1');
    expect(echo?.headers.host).toMatch(/^shop\.example\.com:\d+$/);
    expect(res.headers.get('x-edgeway-route')).toBe('default/shop/rule0');
    expect(res.headers.get('x-edgeway-backend')).toBe('default/blue');
    expect(res.headers.get('x-edgeway-cluster')).toBe('blue');
  });

  it('answers 404 with a JSON body when no route matches', async () => {
    const { res, json } = await get('http://other.example.com/');
    expect(res.status).toBe(404);
    expect(json?.error).toBe('no_route');
  });
});

describe('debug headers and the request log', () => {
  const table = () =>
    compileTable(
      Snapshot.parse({
        version: 1,
        createdAt: '2026-11-26T00:00:00Z',
        backends: [backend('blue', [endpoint('blue')])],
        routes: [route('shop', { hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] })],
      }),
    );
  const deps = (debugHeaders: boolean, lines: Record<string, unknown>[]) => ({
    health: new IsolateHealth(),
    fetch: (r: Request) => fetch(r),
    now: () => Date.now(),
    rand: Math.random,
    log: (l: Record<string, unknown>) => lines.push(l),
    debugHeaders,
    waitUntil: () => {},
  });

  it('omits the x-edgeway-* headers when they are turned off', async () => {
    const lines: Record<string, unknown>[] = [];
    const res = await serveRequest(new Request('http://shop.example.com/a'), table(), deps(false, lines));
    expect(res.status).toBe(200);
    expect([...res.headers.keys()].filter((k) => k.startsWith('x-edgeway-'))).toEqual([]);
    const on = await serveRequest(new Request('http://shop.example.com/a'), table(), deps(true, lines));
    expect(on.headers.get('x-edgeway-route')).toBe('default/shop/rule0');
  });

  it('logs exactly one structured line per request, naming route, backend and cluster', async () => {
    const lines: Record<string, unknown>[] = [];
    await serveRequest(
      new Request('http://shop.example.com/a?secret=1', { headers: { authorization: 'Bearer s3cret' } }),
      table(),
      deps(true, lines),
    );
    const requestLines = lines.filter((l) => l.msg === 'request');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({
      method: 'GET',
      host: 'shop.example.com',
      path: '/a',
      status: 200,
      route: 'default/shop/rule0',
      backend: 'default/blue',
      cluster: 'blue',
      attempts: 1,
    });
    expect(JSON.stringify(lines)).not.toContain('s3cret');
    expect(JSON.stringify(lines)).not.toContain('secret=1');
  });
});
