import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { backend, endpoint, publish, route } from './helpers.js';

describe('rate-limited routes through the gateway', () => {
  it('answers 429 past the limit and sends RateLimit headers on every response', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      route('limited', { hostnames: ['limited.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      route('free', { hostnames: ['free.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      {
        apiVersion: 'edgeway.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: { name: 'per-client' },
        spec: {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'limited' }],
          limits: [{ requests: 3, window: '60s' }],
          keys: [{ type: 'ClientIP' }],
        },
      },
    ]);
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await SELF.fetch('http://limited.example.com/', { headers: { 'cf-connecting-ip': '198.51.100.9' } });
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get('ratelimit-policy')).toContain('q=3;w=60');
        expect(last.headers.get('ratelimit')).toMatch(/r=2;t=\d+/);
        expect(last.headers.get('x-edgeway-route')).toBe('default/limited/rule0');
      }
      if (i < 4) await last.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await last!.json()) as { error: string }).error).toBe('rate_limited');
    // Another client has its own counter; an unlimited route carries no RateLimit fields.
    const other = await SELF.fetch('http://limited.example.com/', { headers: { 'cf-connecting-ip': '198.51.100.10' } });
    expect(other.status).toBe(200);
    const free = await SELF.fetch('http://free.example.com/', { headers: { 'cf-connecting-ip': '198.51.100.9' } });
    expect(free.status).toBe(200);
    expect(free.headers.get('ratelimit')).toBeNull();
  });
});

describe('ClientIP keys through the gateway', () => {
  it('counts an IPv6 /64 as one client by default, and follows a policy prefix length', async () => {
    const policy = (name: string, routeName: string, clientIP?: Record<string, number>) => ({
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: routeName }],
        limits: [{ requests: 2, window: '60s' }],
        keys: [{ type: 'ClientIP' }],
        ...(clientIP ? { clientIP } : {}),
      },
    });
    await publish([
      backend('blue', [endpoint('blue')]),
      route('v6', { hostnames: ['v6.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      route('v4net', { hostnames: ['v4net.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      policy('per-64', 'v6'),
      policy('per-24', 'v4net', { ipv4PrefixLength: 24, ipv6PrefixLength: 64 }),
    ]);
    const status = async (host: string, ip: string) => {
      const res = await SELF.fetch(`http://${host}/`, { headers: { 'cf-connecting-ip': ip } });
      await res.body?.cancel();
      return res.status;
    };
    // Three addresses of one /64: the third is over the limit; the next /64 is another client.
    expect(await status('v6.example.com', '2001:db8:77:1::1')).toBe(200);
    expect(await status('v6.example.com', '2001:db8:77:1:ffff::2')).toBe(200);
    expect(await status('v6.example.com', '2001:DB8:77:1::abcd')).toBe(429);
    expect(await status('v6.example.com', '2001:db8:77:2::1')).toBe(200);
    // IPv4-mapped IPv6 is the IPv4 client; /24 groups neighbours.
    expect(await status('v4net.example.com', '::ffff:203.0.113.5')).toBe(200);
    expect(await status('v4net.example.com', '203.0.113.200')).toBe(200);
    expect(await status('v4net.example.com', '203.0.113.9')).toBe(429);
    expect(await status('v4net.example.com', '203.0.114.9')).toBe(200);
  });
});
