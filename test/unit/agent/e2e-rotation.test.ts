/**
 * End to end, mid key rotation: fake Kubernetes API server -> agent -> the real Worker in Miniflare (startDevGateway)
 * whose AGENT_KEYS holds two keys for the cluster (`k1`, `k2`) and which sets EDGEWAY_AUDIENCE. An agent signing with
 * `k2` and the right audience is served; one with a wrong audience, none, or the old key under the new id is refused
 * (401, fatal) and nothing it reported is served. Then an operator withdraws the cluster: the heartbeat answer says
 * the edge holds 0 endpoints, the agent reports again (refused while cordoned) and after the uncordon its endpoint is
 * served again without any change in the cluster.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { loadConfig, type AgentConfig } from '../../../src/agent/config.js';
import { startDevGateway, type DevGateway } from '../../../src/cli/dev-server.js';
import { startEchoUpstream, type Upstream } from '../../support/upstreams.js';
import { FakeKube } from './support/fake-kube.js';
import { waitFor } from './support/stub-edge.js';

const ADMIN_TOKEN = 'e2e-rotation-admin-token-0123456789';
const OLD_KEY = 'e2e-rotation-old-key-0123456789abcdef';
const NEW_KEY = 'e2e-rotation-new-key-0123456789abcdef';
const AUDIENCE = 'e2e-env';
const CLUSTER = 'kind-local';

let kube: FakeKube;
let gw: DevGateway;
let up: Upstream;
const agents: Agent[] = [];
/** Every push an agent sent, with the edge's answer status. */
const pushes: { agent: string; status: number; endpoints: number }[] = [];

const base = () => gw.url.replace(/\/$/, '');

const published = [
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'shop', namespace: 'default' },
    spec: { hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'web' }] }] },
  },
  {
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'web', namespace: 'default' },
    spec: { endpoints: [], clusters: { allowed: [{ name: CLUSTER }] } },
  },
];

/** GET through the edge with Host: shop.example.com; the upstream's name, if one answered. */
const edgeGet = () =>
  new Promise<string | undefined>((resolve, reject) => {
    const u = new URL(gw.url);
    const req = http.request(
      { host: u.hostname, port: u.port, path: '/hello', headers: { host: 'shop.example.com' }, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve((JSON.parse(Buffer.concat(chunks).toString()) as { upstream?: string }).upstream);
          } catch {
            resolve(undefined);
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });

const operator = async (method: string, path: string) => {
  const res = await fetch(`${base()}/_edgeway/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status, `${method} ${path}`).toBe(200);
  return res.json() as Promise<unknown>;
};

const cluster = async () =>
  ((await operator('GET', '/clusters')) as { cluster: string; endpoints: number; cordoned: boolean }[]).find((c) => c.cluster === CLUSTER);

function config(over: Partial<AgentConfig>): AgentConfig {
  return {
    ...loadConfig({
      EDGEWAY_CLUSTER: CLUSTER,
      EDGEWAY_EDGE_URL: base(),
      EDGEWAY_AGENT_KEY: NEW_KEY,
      EDGEWAY_AGENT_KEY_ID: 'k2',
      EDGEWAY_AUDIENCE: AUDIENCE,
      EDGEWAY_INGRESS_CLASSES: 'edgeway',
      EDGEWAY_HOSTNAME_MAP: '10.0.0.5=localhost',
      EDGEWAY_HTTP_PORT: '0',
      EDGEWAY_LEADER_ELECT: 'false',
    }),
    debounceMs: 50,
    heartbeatMs: 500,
    backoffBaseMs: 50,
    backoffMaxMs: 400,
    ...over,
  };
}

async function start(name: string, over: Partial<AgentConfig>, onFatal: (e: Error) => void) {
  // Records every push on its way to the real edge, with the answer's status.
  const recordingFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (String(input).endsWith('/agent/endpoints') && typeof init?.body === 'string')
      pushes.push({ agent: name, status: res.status, endpoints: (JSON.parse(init.body) as { endpoints: unknown[] }).endpoints.length });
    return res;
  };
  const a = new Agent(config(over), {
    kubeConfig: kube.kubeConfig(),
    fetch: recordingFetch,
    log: (l) => process.env.E2E_DEBUG && console.log(name, JSON.stringify(l)),
    onFatal,
  });
  agents.push(a);
  await a.start();
  return a;
}

beforeAll(async () => {
  up = await startEchoUpstream('use1');
  kube = await new FakeKube().start(200);
  gw = await startDevGateway({
    resources: [],
    port: 0,
    bindings: {
      ADMIN_TOKEN,
      // Mid-rotation: the old key and the new one, both accepted.
      AGENT_KEYS: JSON.stringify({ [CLUSTER]: { k1: OLD_KEY, k2: NEW_KEY } }),
      EDGEWAY_AUDIENCE: AUDIENCE,
      TABLE_REFRESH_SECONDS: '0.1',
    },
  });
  const put = await fetch(`${base()}/_edgeway/v1/resources`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'if-match': '*' },
    body: JSON.stringify({ resources: published }),
  });
  expect(put.status).toBe(200);
  kube.apply('/apis/networking.k8s.io/v1/ingresses', {
    metadata: {
      name: 'web',
      namespace: 'default',
      annotations: { 'edgeway.dev/backend': 'web', 'edgeway.dev/scheme': 'http', 'edgeway.dev/port': String(up.port) },
    },
    spec: { ingressClassName: 'edgeway' },
    status: { loadBalancer: { ingress: [{ ip: '10.0.0.5' }] } },
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await gw?.dispose();
  await kube?.close();
  await up?.close();
});

describe('agent end to end during a key rotation, with an audience', () => {
  it.each([
    ['a wrong audience', { audience: 'other-env' }],
    ['no audience', { audience: undefined }],
    ['the old key under the new key id', { key: OLD_KEY }],
    ['a key id the edge does not have', { keyId: 'k3' }],
  ])('refuses an agent with %s: 401, fatal, nothing recorded or served', async (name, over) => {
    const fatal: Error[] = [];
    const a = await start(name, over, (e) => fatal.push(e));
    await waitFor(() => fatal.length > 0, 10_000, 'fatal error');
    await a.stop();
    expect(fatal[0]!.message).toMatch(/edge answered 401 to POST \/agent\/endpoints: \{"error":"unauthorized"\}/);
    expect(pushes.filter((p) => p.agent === name).map((p) => p.status)).toEqual([401]);
    expect((await cluster())?.endpoints ?? 0).toBe(0);
    expect(await edgeGet()).toBeUndefined();
  });

  it('serves the endpoint of an agent signing with k2 and the audience', async () => {
    const fatal: Error[] = [];
    const a = await start('k2', {}, (e) => fatal.push(e));
    await waitFor(async () => (await edgeGet()) === 'use1', 15_000, 'the endpoint served');
    expect(a.status()).toMatchObject({ keyId: 'k2', audience: AUDIENCE });
    expect(await cluster()).toMatchObject({ endpoints: 1, cordoned: false });
    expect(pushes.filter((p) => p.agent === 'k2').map((p) => p.status)).toEqual([200]);
    expect(fatal).toEqual([]);
  });

  it('reports again after an operator withdraws the cluster, and is served again once uncordoned', async () => {
    const before = pushes.filter((p) => p.agent === 'k2').length;
    await operator('POST', `/clusters/${CLUSTER}/withdraw`);
    await waitFor(async () => (await edgeGet()) === undefined, 15_000, 'the endpoint withdrawn');
    // The heartbeat answers `endpoints: 0`: the agent reports its full set again (refused: the cluster is cordoned).
    await waitFor(() => pushes.filter((p) => p.agent === 'k2').length > before, 5000, 're-push after the withdrawal');
    expect(await cluster()).toMatchObject({ endpoints: 0, cordoned: true });
    await operator('POST', `/clusters/${CLUSTER}/uncordon`);
    // Nothing changed in the cluster: only the re-push (at most one per heartbeat interval) brings it back.
    await waitFor(async () => (await edgeGet()) === 'use1', 15_000, 'the endpoint served again');
    expect(await cluster()).toMatchObject({ endpoints: 1, cordoned: false });
    const repushes = pushes.filter((p) => p.agent === 'k2').slice(before);
    expect(repushes.every((p) => p.status === 200 && p.endpoints === 1)).toBe(true);
  });
});
