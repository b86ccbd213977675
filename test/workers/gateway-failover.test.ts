import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { backend, endpoint, get, publish, refusedUrl, route } from './helpers.js';

const hosts = (name: string) => ({ hostnames: [`${name}.example.com`] });

describe('failover inside a Backend', () => {
  it('retries a GET on another endpoint when one refuses connections: no client-visible error', async () => {
    await publish([
      backend('mixed', [endpoint(refusedUrl()), endpoint('use1')]),
      route('retry', { ...hosts('retry'), rules: [{ backendRefs: [{ name: 'mixed' }] }] }),
    ]);
    for (let i = 0; i < 30; i++) {
      const { res, echo } = await get('http://retry.example.com/');
      expect(res.status).toBe(200);
      expect(echo?.upstream).toBe('use1');
    }
  });

  it('replays a small POST only when it carries an Idempotency-Key', async () => {
    await publish([
      backend('post-refused-first', [endpoint(refusedUrl(), { priority: 0 }), endpoint('use1', { priority: 1 })]),
      route('post', { ...hosts('post'), rules: [{ backendRefs: [{ name: 'post-refused-first' }] }] }),
    ]);
    const plain = await get('http://post.example.com/', { method: 'POST', body: 'order=1' });
    expect(plain.res.status).toBe(502);
    expect(plain.json).toMatchObject({ error: 'upstream_unreachable', route: 'default/post/rule0' });
    const keyed = await get('http://post.example.com/', { method: 'POST', body: 'order=2', headers: { 'idempotency-key': 'abc-123' } });
    expect(keyed.res.status).toBe(200);
    expect(keyed.echo?.body).toBe('order=2');
  });

  it('takes a failing endpoint out after consecutive failures, so later requests go straight to a good one', async () => {
    await publish([
      backend('eject', [endpoint(refusedUrl(), { priority: 0 }), endpoint('usw2', { priority: 1 })], {
        healthCheck: { passive: { consecutiveFailures: 2, baseEjectionTime: '30s' } },
      }),
      route('eject', { ...hosts('eject'), rules: [{ backendRefs: [{ name: 'eject' }] }] }),
    ]);
    for (let i = 0; i < 2; i++) await (await SELF.fetch('http://eject.example.com/')).body?.cancel();
    const res = await SELF.fetch('http://eject.example.com/');
    await res.body?.cancel();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-edgeway-cluster')).toBe('usw2');
    const health = (await (
      await SELF.fetch('http://eject.example.com/_edgeway/health', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    ).json()) as {
      backends: { backend: string; endpoints: { cluster: string; usable: boolean }[] }[];
    };
    const eject = health.backends.find((b) => b.backend === 'default/eject')!;
    expect(eject.endpoints.find((e) => e.cluster === 'refused')?.usable).toBe(false);
  });

  it('continues into the fallback Backend when every endpoint of the Backend refuses, from the first request', async () => {
    await publish([
      backend('primary', [endpoint(refusedUrl())], { failover: { fallbackBackend: 'standby' } }),
      backend('standby', [endpoint('euw1')]),
      route('fb', { ...hosts('fb'), rules: [{ backendRefs: [{ name: 'primary' }] }] }),
    ]);
    for (let i = 0; i < 10; i++) {
      const { res, echo } = await get('http://fb.example.com/');
      expect(res.status).toBe(200);
      expect(echo?.upstream).toBe('euw1');
      expect(res.headers.get('x-edgeway-backend')).toBe('default/standby');
    }
  });

  it('uses the lowest priority tier while it is healthy', async () => {
    await publish([
      backend('tiers', [endpoint('use1', { priority: 0 }), endpoint('euw1', { priority: 1 })]),
      route('tiers', { ...hosts('tiers'), rules: [{ backendRefs: [{ name: 'tiers' }] }] }),
    ]);
    for (let i = 0; i < 20; i++) {
      const { echo } = await get('http://tiers.example.com/');
      expect(echo?.upstream).toBe('use1');
    }
  });

  it('prefers the region nearest the client inside a tier', async () => {
    await publish([
      backend('geo', [endpoint('use1', { region: 'us-east-1' }), endpoint('euw1', { region: 'eu-west-1' })]),
      route('geo', { ...hosts('geo'), rules: [{ backendRefs: [{ name: 'geo' }] }] }),
    ]);
    const dublin = { cf: { latitude: '53.35', longitude: '-6.26', continent: 'EU' } } as RequestInit;
    const virginia = { cf: { continent: 'NA' } } as RequestInit;
    for (let i = 0; i < 10; i++) {
      expect((await get('http://geo.example.com/', dublin)).echo?.upstream).toBe('euw1');
      expect((await get('http://geo.example.com/', virginia)).echo?.upstream).toBe('use1');
    }
  });

  it('answers 503 with Retry-After when no endpoint is usable', async () => {
    await publish([
      backend('empty', []),
      route('empty', { ...hosts('empty'), rules: [{ backendRefs: [{ name: 'empty' }] }] }),
      route('nobackends', { ...hosts('nobackends'), rules: [{}] }),
    ]);
    const { res, json } = await get('http://empty.example.com/');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(json).toMatchObject({ error: 'no_ready_endpoint', route: 'default/empty/rule0', backend: 'default/empty' });
    const none = await get('http://nobackends.example.com/');
    expect(none.res.status).toBe(500);
    expect(none.json?.error).toBe('no_backend_refs');
  });
});

describe('timeouts', () => {
  it('answers 504 when one attempt exceeds timeouts.backendRequest', async () => {
    await publish([
      backend('slow', [endpoint('use1')]),
      route('slow', { ...hosts('slow'), rules: [{ timeouts: { backendRequest: '150ms' }, backendRefs: [{ name: 'slow' }] }] }),
    ]);
    const started = Date.now();
    const { res, json } = await get('http://slow.example.com/_sleep/2000');
    expect(res.status).toBe(504);
    expect(json).toMatchObject({ error: 'upstream_timeout', route: 'default/slow/rule0' });
    expect(Date.now() - started).toBeLessThan(1500);
    expect((await get('http://slow.example.com/_sleep/10')).res.status).toBe(200);
  });

  it('answers 504 when the whole request, retries included, exceeds timeouts.request', async () => {
    await publish([
      backend('slow2', [endpoint('use1'), endpoint('usw2')], { healthCheck: { passive: { consecutiveFailures: 100 } } }),
      route('slow2', {
        ...hosts('slow2'),
        rules: [
          {
            timeouts: { request: '300ms', backendRequest: '200ms' },
            retry: { attempts: 3, backoff: '1ms' },
            backendRefs: [{ name: 'slow2' }],
          },
        ],
      }),
    ]);
    const started = Date.now();
    const { res, json } = await get('http://slow2.example.com/_sleep/2000');
    expect(res.status).toBe(504);
    expect(json?.error).toBe('request_timeout');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('retries listed status codes on a different endpoint and returns the last status when attempts run out', async () => {
    await publish([
      backend('flaky', [endpoint('use1'), endpoint('usw2')], { healthCheck: { passive: { consecutiveFailures: 100 } } }),
      route('flaky', {
        ...hosts('flaky'),
        rules: [{ retry: { attempts: 2, codes: [503], backoff: '1ms' }, backendRefs: [{ name: 'flaky' }] }],
      }),
    ]);
    const { res, echo } = await get('http://flaky.example.com/_status/503');
    expect(res.status).toBe(503);
    expect(echo?.url).toBe('/_status/503');
    const log = await SELF.fetch('http://flaky.example.com/_status/503');
    await log.body?.cancel();
    expect(log.headers.get('x-edgeway-cluster')).toMatch(/^(use1|usw2)$/);
  });
});
