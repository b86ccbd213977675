import { describe, expect, it, beforeAll } from 'vitest';
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
