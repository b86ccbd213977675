/**
 * The hijack, end to end in workerd: an operator publishes payments/api served by cluster B only; cluster A signs a
 * push into it. Real requests to the payments hostname show where traffic goes after every step, and the controls
 * (an admitted cluster's push does move traffic) show the test would see a hijack if one happened.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTableNow } from '../../src/app/index.js';
import { get, upstreamUrl } from './helpers.js';
import { adminHarness } from '../unit/admin/support/harness.js';

type Refused = { backend: string; url: string; reason: string };
type PushOut = { version: number; accepted: number; refused: Refused[] };

let h: Awaited<ReturnType<typeof adminHarness>>;
const A = 'aws-use1'; // the attacker: a valid agent key, but payments/api does not admit it
const B = 'gcp-euw1'; // the cluster payments/api belongs to

const resources = () => [
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'payments', namespace: 'payments' },
    spec: { hostnames: ['payments.example.com'], rules: [{ backendRefs: [{ name: 'api' }] }] },
  },
  {
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'api', namespace: 'payments' },
    spec: {
      endpoints: [{ url: upstreamUrl('use1'), cluster: B }],
      clusters: { allowed: [{ name: B }] },
    },
  },
];

const report = (cluster: string, url: string, extra: Record<string, unknown> = {}) => ({
  cluster,
  policy: 'sync' as const,
  endpoints: [
    { backend: { namespace: 'payments', name: 'api' }, url, cluster, weight: 1_000_000, priority: 0, readyEndpoints: 3, ...extra },
  ],
});

/** Makes this isolate serve what the coordinator has flushed for `version`, then sends `n` real requests. */
async function upstreamsAt(version: number, n = 12): Promise<string[]> {
  await h.kvSnapshot(version);
  await refreshTableNow(env);
  const seen: string[] = [];
  for (let i = 0; i < n; i++) {
    const { res, echo } = await get('http://payments.example.com/charge', {
      headers: { authorization: 'Bearer customer-token', cookie: 'session=abc' },
    });
    seen.push(echo?.upstream ?? `status ${res.status}`);
  }
  return seen;
}

const only = (name: string, n = 12) => Array.from({ length: n }, () => name);

async function push(cluster: string, body: unknown): Promise<PushOut> {
  const { response } = await h.agent(cluster, '/agent/endpoints', body);
  expect(response.status).toBe(200);
  return (await response.json()) as PushOut;
}

let published = 0;
beforeAll(async () => {
  h = await adminHarness();
  const res = await h.op('/resources', { method: 'PUT', json: { resources: resources() }, headers: { 'if-match': await h.etag() } });
  expect(res.status).toBe(200);
  published = ((await res.json()) as { version: number }).version;
});
afterAll(() => h.stop());

describe('Backends admit clusters (end to end)', () => {
  it('serves payments from cluster B before anything is pushed', async () => {
    expect(await upstreamsAt(published)).toEqual(only('use1'));
  });

  it('refuses the hijack push: cluster A cannot add an endpoint to payments/api, and routing is unchanged', async () => {
    const out = await push(A, report(A, upstreamUrl('euw1')));
    expect(out.accepted).toBe(0);
    expect(out.refused).toEqual([{ backend: 'payments/api', url: upstreamUrl('euw1'), reason: 'not-admitted' }]);
    expect(await upstreamsAt(out.version)).toEqual(only('use1'));
    const clusters = (await (await h.op('/clusters')).json()) as { cluster: string; served: number; refused: Refused[] }[];
    expect(clusters.find((c) => c.cluster === A)).toMatchObject({ served: 0, refused: [{ reason: 'not-admitted' }] });
  });

  it('does not let even the admitted cluster replace or re-weight the static endpoint', async () => {
    const out = await push(B, report(B, upstreamUrl('use1'), { weight: 0, readyEndpoints: 0 }));
    expect(out.refused).toEqual([{ backend: 'payments/api', url: upstreamUrl('use1'), reason: 'static-endpoint' }]);
    // Had the report replaced the static entry (weight 0, no ready pods), these would be 503s.
    expect(await upstreamsAt(out.version)).toEqual(only('use1'));
  });

  it('cordon: the admitted cluster cannot add endpoints while cordoned; uncordoned, the same push takes traffic', async () => {
    const cordon = await h.op(`/clusters/${B}/cordon`, { method: 'POST' });
    expect(cordon.status).toBe(200);
    expect(await cordon.json()).toMatchObject({ cluster: B, cordoned: true });
    const refused = await push(B, report(B, upstreamUrl('usw2')));
    expect(refused.refused).toEqual([{ backend: 'payments/api', url: upstreamUrl('usw2'), reason: 'cordoned' }]);
    expect(await upstreamsAt(refused.version)).toEqual(only('use1'));

    expect((await h.op(`/clusters/${B}/uncordon`, { method: 'POST' })).status).toBe(200);
    // The control: an admitted, uncordoned push with weight 1000000 does move the traffic.
    const accepted = await push(B, report(B, upstreamUrl('usw2')));
    expect(accepted).toMatchObject({ accepted: 1, refused: [] });
    expect(await upstreamsAt(accepted.version)).toEqual(only('usw2'));
  });

  it('withdraw: the cluster’s endpoints leave the table at once and stay out until uncordoned', async () => {
    const res = await h.op(`/clusters/${B}/withdraw`, { method: 'POST' });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { version: number; cluster: { endpoints: number; cordoned: boolean; withdrawn: { reason: string } } };
    expect(out.cluster).toMatchObject({ endpoints: 0, cordoned: true, withdrawn: { reason: 'operator' } });
    expect(await upstreamsAt(out.version)).toEqual(only('use1'));
    const again = await push(B, report(B, upstreamUrl('usw2')));
    expect(again.refused.map((r) => r.reason)).toEqual(['cordoned']);
    expect(await upstreamsAt(again.version)).toEqual(only('use1'));
  });

  it('refuses lifecycle calls without the operator token and with a malformed cluster id', async () => {
    expect((await h.call(`/clusters/${B}/withdraw`, { method: 'POST' })).status).toBe(401);
    expect((await h.op('/clusters/Not%20A%20Cluster/cordon', { method: 'POST' })).status).toBe(400);
    expect((await h.op('/clusters/never-seen/uncordon', { method: 'POST' })).status).toBe(404);
  });
});
