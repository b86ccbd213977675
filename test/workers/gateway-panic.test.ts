/** Panic threshold in workerd: an ejected-but-connecting endpoint keeps serving when nothing better exists. */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { backend, endpoint, get, publish, refusedUrl, route } from './helpers.js';

const passive = (extra: Record<string, unknown> = {}) => ({
  healthCheck: { passive: { consecutiveFailures: 2, baseEjectionTime: '60s', maxEjectionTime: '120s', ...extra } },
});

interface HealthPage {
  backends: { backend: string; endpoints: { cluster: string; usable: boolean; passive?: { state: string } }[] }[];
}
const endpointsOf = async (name: string) => {
  // The health page takes the operator token (the same check as the admin API).
  const res = await SELF.fetch('http://x.example.com/_edgeway/health', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
  const page = (await res.json()) as HealthPage;
  return page.backends.find((b) => b.backend === `default/${name}`)!.endpoints;
};

/** Two 503 answers in a row: the endpoint is ejected by passive outlier detection (consecutiveFailures 2). */
async function ejectWith503s(host: string) {
  for (let i = 0; i < 2; i++) {
    const { res } = await get(`http://${host}/_status/503`);
    expect(res.status).toBe(503);
  }
}

describe('panic threshold', () => {
  it('a single-endpoint Backend whose endpoint was ejected still serves (200) during the ejection', async () => {
    await publish([
      backend('solo', [endpoint('use1')], passive()),
      route('solo', { hostnames: ['solo.example.com'], rules: [{ backendRefs: [{ name: 'solo' }] }] }),
    ]);
    await ejectWith503s('solo.example.com');
    expect((await endpointsOf('solo'))[0]).toMatchObject({ cluster: 'use1', usable: false, passive: { state: 'open' } });
    for (let i = 0; i < 5; i++) {
      const { res, echo } = await get('http://solo.example.com/orders');
      expect(res.status).toBe(200);
      expect(echo?.upstream).toBe('use1');
    }
    // Served in panic: the endpoint stays ejected for its whole ejection time, health does not pretend otherwise.
    expect((await endpointsOf('solo'))[0]).toMatchObject({ usable: false, passive: { state: 'open' } });
  });

  it('does not send to an endpoint known to refuse connections: 503 no_ready_endpoint', async () => {
    await publish([
      backend('solo-refused', [endpoint(refusedUrl())], passive()),
      route('solo-refused', { hostnames: ['refused.example.com'], rules: [{ backendRefs: [{ name: 'solo-refused' }] }] }),
    ]);
    for (let i = 0; i < 2; i++) expect((await get('http://refused.example.com/')).res.status).toBe(502);
    expect((await endpointsOf('solo-refused'))[0]).toMatchObject({ usable: false, passive: { state: 'open' } });
    for (let i = 0; i < 3; i++) {
      const { res, json } = await get('http://refused.example.com/');
      expect(res.status).toBe(503);
      expect(json).toMatchObject({ error: 'no_ready_endpoint' });
    }
  });

  it('failover.panicThreshold: 0 turns panic off (503 for the whole ejection)', async () => {
    await publish([
      backend('solo-nopanic', [endpoint('usw2')], { ...passive(), failover: { panicThreshold: 0 } }),
      route('solo-nopanic', { hostnames: ['nopanic.example.com'], rules: [{ backendRefs: [{ name: 'solo-nopanic' }] }] }),
    ]);
    await ejectWith503s('nopanic.example.com');
    const { res, json } = await get('http://nopanic.example.com/');
    expect(res.status).toBe(503);
    expect(json).toMatchObject({ error: 'no_ready_endpoint' });
  });

  it('a healthy fallback Backend takes over instead of panic', async () => {
    await publish([
      backend('primary-p', [endpoint('use1')], { ...passive(), failover: { fallbackBackend: 'standby-p' } }),
      backend('standby-p', [endpoint('euw1')]),
      route('fallback-p', { hostnames: ['fbp.example.com'], rules: [{ backendRefs: [{ name: 'primary-p' }] }] }),
    ]);
    await ejectWith503s('fbp.example.com');
    for (let i = 0; i < 5; i++) {
      const { res, echo } = await get('http://fbp.example.com/');
      expect(res.status).toBe(200);
      expect(echo?.upstream).toBe('euw1');
    }
  });

  it('with every endpoint ejected, panic spreads traffic over all of them', async () => {
    await publish([
      backend('pair', [endpoint('use1'), endpoint('usw2')], passive({ consecutiveFailures: 1, maxEjectionPercent: 100 })),
      route('pair', { hostnames: ['pair.example.com'], rules: [{ backendRefs: [{ name: 'pair' }] }] }),
    ]);
    // One 503 ejects an endpoint; the next request then goes to the other one, which is ejected in turn.
    for (let i = 0; i < 2; i++) await get('http://pair.example.com/_status/503');
    expect((await endpointsOf('pair')).map((e) => e.usable)).toEqual([false, false]);
    const seen: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const { res, echo } = await get('http://pair.example.com/');
      expect(res.status).toBe(200);
      seen[echo!.upstream] = (seen[echo!.upstream] ?? 0) + 1;
    }
    expect(Object.keys(seen).sort()).toEqual(['use1', 'usw2']);
  });
});
