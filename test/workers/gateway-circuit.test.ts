import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { backend, endpoint, get, publish, refusedUrl, route } from './helpers.js';

const hosts = (name: string) => ({ hostnames: [`${name}.example.com`] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface EndpointView {
  cluster: string;
  usable: boolean;
  load?: { inFlight: number; heldUntil?: number };
  passive?: { counters: { failures: number } };
}

async function endpoints(name: string): Promise<EndpointView[]> {
  const res = await SELF.fetch('http://health.example.com/_edgeway/health', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
  const view = (await res.json()) as { backends: { backend: string; endpoints: EndpointView[] }[] };
  const b = view.backends.find((x) => x.backend === `default/${name}`);
  if (!b) throw new Error(`no Backend default/${name} on the health page`);
  return b.endpoints;
}

/** Starts requests that stay in flight at the upstream for `ms`, and waits until the gateway counts them. */
async function inFlight(url: string, n: number, backendName: string) {
  const pending = Array.from({ length: n }, () => get(url));
  for (let i = 0; i < 100; i++) {
    const eps = await endpoints(backendName);
    if (eps.reduce((sum, e) => sum + (e.load?.inFlight ?? 0), 0) >= n) break;
    await sleep(10);
  }
  return pending;
}

describe('circuitBreaker.maxRequests: requests in flight per endpoint, per isolate', () => {
  it('sends a request over the limit to another usable endpoint', async () => {
    await publish([
      backend('cb-spill', [endpoint('use1', { priority: 0 }), endpoint('usw2', { priority: 1 })], {
        circuitBreaker: { maxRequests: 2 },
      }),
      route('cb-spill', { ...hosts('cb-spill'), rules: [{ backendRefs: [{ name: 'cb-spill' }] }] }),
    ]);
    const slow = await inFlight('http://cb-spill.example.com/_sleep/500', 2, 'cb-spill');
    const over = await get('http://cb-spill.example.com/');
    expect(over.res.status).toBe(200);
    expect(over.echo?.upstream).toBe('usw2');
    for (const r of await Promise.all(slow)) {
      expect(r.res.status).toBe(200);
      expect(r.echo?.upstream).toBe('use1');
    }
    // Room again: the preferred endpoint takes the next request.
    expect((await get('http://cb-spill.example.com/')).echo?.upstream).toBe('use1');
  });

  it('answers 503 overloaded with Retry-After when the only endpoint is at its limit, never queueing', async () => {
    await publish([
      backend('cb-single', [endpoint('use1')], { circuitBreaker: { maxRequests: 1 } }),
      route('cb-single', { ...hosts('cb-single'), rules: [{ backendRefs: [{ name: 'cb-single' }] }] }),
    ]);
    const slow = await inFlight('http://cb-single.example.com/_sleep/500', 1, 'cb-single');
    const started = Date.now();
    const over = await get('http://cb-single.example.com/');
    expect(Date.now() - started).toBeLessThan(400);
    expect(over.res.status).toBe(503);
    expect(over.res.headers.get('retry-after')).toBe('1');
    expect(over.json).toMatchObject({ error: 'overloaded', route: 'default/cb-single/rule0' });
    expect((await Promise.all(slow))[0]!.res.status).toBe(200);
    expect((await get('http://cb-single.example.com/')).res.status).toBe(200);
  });

  it('releases every slot after 5xx answers, retries, attempt timeouts, request timeouts and refusals (no leak)', async () => {
    const passive = { healthCheck: { passive: { consecutiveFailures: 1000 } } };
    // The echo upstream answers by path, so each rule is picked by the path its requests need.
    await publish([
      backend('cb-leak', [endpoint('use1')], { circuitBreaker: { maxRequests: 2 }, ...passive }),
      backend('cb-leak-refused', [endpoint(refusedUrl())], { circuitBreaker: { maxRequests: 2 }, ...passive }),
      route('cb-leak', {
        ...hosts('cb-leak'),
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/_sleep/300' } }],
            backendRefs: [{ name: 'cb-leak' }],
            timeouts: { backendRequest: '30ms' },
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/_sleep/301' } }],
            backendRefs: [{ name: 'cb-leak' }],
            timeouts: { request: '30ms' },
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/_status/503' } }],
            backendRefs: [{ name: 'cb-leak' }],
            retry: { attempts: 3, backoff: '1ms' },
          },
          { matches: [{ path: { type: 'PathPrefix', value: '/refused' } }], backendRefs: [{ name: 'cb-leak-refused' }] },
          { backendRefs: [{ name: 'cb-leak' }] },
        ],
      }),
    ]);
    for (let i = 0; i < 4; i++) {
      const attempt = await get('http://cb-leak.example.com/_sleep/300');
      expect(attempt.json).toMatchObject({ error: 'upstream_timeout' });
      const deadline = await get('http://cb-leak.example.com/_sleep/301');
      expect(deadline.json).toMatchObject({ error: 'request_timeout' });
      expect((await get('http://cb-leak.example.com/_status/503')).res.status).toBe(503);
      expect((await get('http://cb-leak.example.com/_status/500')).res.status).toBe(500);
      expect((await get('http://cb-leak.example.com/refused')).json).toMatchObject({ error: 'upstream_unreachable' });
    }
    expect((await endpoints('cb-leak'))[0]!.load?.inFlight ?? 0).toBe(0);
    expect((await endpoints('cb-leak-refused'))[0]!.load?.inFlight ?? 0).toBe(0);
    // Still exactly maxRequests: two slow requests are admitted, a third concurrent one is shed.
    const slow = await inFlight('http://cb-leak.example.com/_sleep/400', 2, 'cb-leak');
    expect((await get('http://cb-leak.example.com/')).json).toMatchObject({ error: 'overloaded' });
    for (const r of await Promise.all(slow)) expect(r.res.status).toBe(200);
    expect((await endpoints('cb-leak'))[0]!.load).toBeUndefined();
  });

  it('counts a streamed response only until its headers arrive', async () => {
    await publish([
      backend('cb-stream', [endpoint('use1')], { circuitBreaker: { maxRequests: 1 } }),
      route('cb-stream', { ...hosts('cb-stream'), rules: [{ backendRefs: [{ name: 'cb-stream' }] }] }),
    ]);
    const streaming = await SELF.fetch('http://cb-stream.example.com/_stream');
    expect(streaming.status).toBe(200);
    // The body is still arriving (three chunks 20 ms apart), yet the slot is free.
    expect((await get('http://cb-stream.example.com/')).res.status).toBe(200);
    expect(await streaming.text()).toContain('chunk2');
  });
});

describe('upstream overload signals: 503/429 with Retry-After', () => {
  it('takes the endpoint out for that long, without a passive failure, and back after', async () => {
    await publish([
      backend('ra-single', [endpoint('use1')], { healthCheck: { passive: { consecutiveFailures: 1 } } }),
      route('ra-single', { ...hosts('ra-single'), rules: [{ backendRefs: [{ name: 'ra-single' }] }] }),
    ]);
    const signal = await get('http://ra-single.example.com/_status/503?retry-after=1');
    expect(signal.res.status).toBe(503);
    expect(signal.res.headers.get('retry-after')).toBe('1');
    const paused = await get('http://ra-single.example.com/');
    expect(paused.res.status).toBe(503);
    expect(paused.json).toMatchObject({ error: 'overloaded' });
    expect(paused.res.headers.get('retry-after')).toBe('1');
    const [ep] = await endpoints('ra-single');
    expect(ep!.load?.heldUntil).toBeGreaterThan(Date.now());
    // Not also a failure toward ejection: with consecutiveFailures 1 it would have ejected the endpoint.
    expect(ep!.passive?.counters.failures ?? 0).toBe(0);
    expect(ep!.usable).toBe(true);
    await sleep(1100);
    expect((await get('http://ra-single.example.com/')).res.status).toBe(200);
  });

  it('sends traffic to another endpoint meanwhile (429 too), in the HTTP-date form', async () => {
    await publish([
      backend('ra-spill', [endpoint('use1', { priority: 0 }), endpoint('usw2', { priority: 1 })]),
      route('ra-spill', { ...hosts('ra-spill'), rules: [{ backendRefs: [{ name: 'ra-spill' }] }] }),
    ]);
    const date = new Date(Date.now() + 2000).toUTCString();
    const signal = await get(`http://ra-spill.example.com/_status/429?retry-after=${encodeURIComponent(date)}`);
    expect(signal.res.status).toBe(429);
    expect(signal.echo?.upstream).toBe('use1');
    const until = (await endpoints('ra-spill')).find((e) => e.cluster === 'use1')!.load?.heldUntil;
    expect(until).toBeGreaterThan(Date.now());
    expect(until).toBeLessThanOrEqual(Date.now() + 2000);
    expect((await get('http://ra-spill.example.com/')).echo?.upstream).toBe('usw2');
    await sleep(Math.max(0, until! - Date.now()) + 100);
    expect((await get('http://ra-spill.example.com/')).echo?.upstream).toBe('use1');
  });

  it('retries a 503 with Retry-After on another endpoint at once', async () => {
    await publish([
      backend('ra-retry', [endpoint('use1', { priority: 0 }), endpoint('usw2', { priority: 1 })]),
      route('ra-retry', { ...hosts('ra-retry'), rules: [{ backendRefs: [{ name: 'ra-retry' }], retry: { attempts: 2, backoff: '1ms' } }] }),
    ]);
    // usw2 answers the same path with the same 503, so the client sees it; what matters is that both were tried
    // and both are now paused.
    const r = await get('http://ra-retry.example.com/_status/503?retry-after=1');
    expect(r.res.status).toBe(503);
    expect(r.echo?.upstream).toBe('usw2');
    const eps = await endpoints('ra-retry');
    expect(eps.every((e) => (e.load?.heldUntil ?? 0) > Date.now())).toBe(true);
    expect((await get('http://ra-retry.example.com/')).json).toMatchObject({ error: 'overloaded' });
  });

  it('hands a half-open trial back when it is answered with a pause, so the trial comes right after the pause', async () => {
    await publish([
      backend('ra-trial', [endpoint('use1', { priority: 0 }), endpoint('usw2', { priority: 1 })], {
        healthCheck: { passive: { consecutiveFailures: 1, baseEjectionTime: '300ms' } },
      }),
      route('ra-trial', { ...hosts('ra-trial'), rules: [{ backendRefs: [{ name: 'ra-trial' }] }] }),
    ]);
    expect((await get('http://ra-trial.example.com/_status/500')).echo?.upstream).toBe('use1');
    expect((await get('http://ra-trial.example.com/')).echo?.upstream).toBe('usw2');
    await sleep(350);
    // Half-open: this request is use1's trial, and it is told to come back in 1 s.
    const trial = await get('http://ra-trial.example.com/_status/503?retry-after=1');
    expect(trial.echo?.upstream).toBe('use1');
    expect((await get('http://ra-trial.example.com/')).echo?.upstream).toBe('usw2');
    await sleep(1100);
    expect((await get('http://ra-trial.example.com/')).echo?.upstream).toBe('use1');
  });

  it('bounds hostile values: huge is capped at maxRetryAfter, negative and garbage are ignored', async () => {
    await publish([
      backend('ra-hostile', [endpoint('use1')], {
        circuitBreaker: { maxRetryAfter: '1500ms' },
        healthCheck: { passive: { consecutiveFailures: 1000 } },
      }),
      backend('ra-default', [endpoint('use1')]),
      backend('ra-off', [endpoint('use1')], { circuitBreaker: { maxRetryAfter: '0s' } }),
      route('ra-hostile', { ...hosts('ra-hostile'), rules: [{ backendRefs: [{ name: 'ra-hostile' }] }] }),
      route('ra-default', { ...hosts('ra-default'), rules: [{ backendRefs: [{ name: 'ra-default' }] }] }),
      route('ra-off', { ...hosts('ra-off'), rules: [{ backendRefs: [{ name: 'ra-off' }] }] }),
    ]);
    for (const value of ['-5', 'soon', '1e9', '0', 'Thu, 01 Jan 1970 00:00:00 GMT']) {
      expect((await get(`http://ra-hostile.example.com/_status/503?retry-after=${encodeURIComponent(value)}`)).res.status).toBe(503);
      expect((await get('http://ra-hostile.example.com/')).res.status, value).toBe(200);
    }
    expect((await get('http://ra-off.example.com/_status/503?retry-after=30')).res.status).toBe(503);
    expect((await get('http://ra-off.example.com/')).res.status).toBe(200);

    await get('http://ra-default.example.com/_status/503?retry-after=99999999999999999999');
    const defaultUntil = (await endpoints('ra-default'))[0]!.load?.heldUntil;
    expect(defaultUntil).toBeGreaterThan(Date.now() + 50_000);
    expect(defaultUntil).toBeLessThanOrEqual(Date.now() + 60_000);

    await get('http://ra-hostile.example.com/_status/503?retry-after=99999999999999999999');
    const until = (await endpoints('ra-hostile'))[0]!.load?.heldUntil;
    expect(until).toBeGreaterThan(Date.now());
    expect(until).toBeLessThanOrEqual(Date.now() + 1500);
    expect((await get('http://ra-hostile.example.com/')).json).toMatchObject({ error: 'overloaded' });
    await sleep(Math.max(0, until! - Date.now()) + 100);
    expect((await get('http://ra-hostile.example.com/')).res.status).toBe(200);
  });
});
