/** Agent lifecycle against the fake API server and a stub edge: leader election and hand-over, soft/fatal errors,
 * configuration errors, and a real process shutting down cleanly on SIGTERM. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { bundleAgent } from '../../../src/agent/bundle.js';
import { ConfigError, loadConfig, type AgentConfig } from '../../../src/agent/config.js';
import { FakeKube } from './support/fake-kube.js';
import { startStubEdge, waitFor, type StubEdge } from './support/stub-edge.js';

const KEY = 'lifecycle-key-0123456789abcdef';
let kube: FakeKube;
let edge: StubEdge;
const agents: Agent[] = [];

const cfg = (over: Partial<AgentConfig>): AgentConfig => ({
  ...loadConfig({
    EDGEWAY_CLUSTER: 'c1',
    EDGEWAY_EDGE_URL: edge.url,
    EDGEWAY_AGENT_KEY: KEY,
    EDGEWAY_HTTP_PORT: '0',
    EDGEWAY_INGRESS_CLASSES: 'edgeway',
    EDGEWAY_GATEWAY_CLASSES: 'istio',
    EDGEWAY_CROSS_NAMESPACE_GRANTS: JSON.stringify([{ from: ['infra'], to: 'default', kinds: ['Gateway'] }]),
    POD_NAMESPACE: 'edgeway',
  }),
  debounceMs: 50,
  backoffBaseMs: 20,
  backoffMaxMs: 100,
  leaseDurationMs: 1500,
  heartbeatMs: 500,
  ...over,
});

const start = async (c: AgentConfig, onFatal: (e: Error) => void = () => {}) => {
  const a = new Agent(c, { kubeConfig: kube.kubeConfig(), log: () => {}, onFatal });
  agents.push(a);
  await a.start();
  return a;
};

beforeEach(async () => {
  kube = await new FakeKube().start(200);
  edge = await startStubEdge({ c1: KEY });
  kube.apply('/apis/networking.k8s.io/v1/ingresses', {
    metadata: { name: 'web', namespace: 'shop', annotations: { 'edgeway.dev/backend': 'web' } },
    spec: { ingressClassName: 'edgeway' },
    status: { loadBalancer: { ingress: [{ hostname: 'web.lb.example.com' }] } },
  });
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await edge.close();
  await kube.close();
});

describe('leader election', () => {
  it('lets only the Lease holder push, and hands over when it stops', async () => {
    const a = await start(cfg({ identity: 'pod-a' }));
    await waitFor(() => edge.pushes.length === 1, 5000, 'first push');
    const b = await start(cfg({ identity: 'pod-b' }));
    await new Promise((r) => setTimeout(r, 700));
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(await b.metrics.registry.getSingleMetricAsString('edgeway_agent_leader')).toMatch(/edgeway_agent_leader 0/);
    expect(edge.pushes).toHaveLength(1);

    await a.stop();
    expect(kube.lease('edgeway', 'edgeway-agent')?.spec).not.toHaveProperty('holderIdentity', 'pod-a');
    // The new leader does not know what the edge holds, so it reports everything once.
    await waitFor(() => b.isLeader && edge.pushes.length === 2, 5000, 'hand-over push');
    expect(edge.pushes[1]!.body.endpoints.map((e) => e.url)).toEqual(['https://web.lb.example.com']);
  });
});

describe('Gateway API', () => {
  it('watches Gateways and HTTPRoutes when the CRDs exist and reports the Gateway address with ready pods', async () => {
    await kube.close();
    kube = await new FakeKube({ gatewayApi: true }).start(200);
    kube.apply('/apis/gateway.networking.k8s.io/v1/gateways', {
      metadata: { name: 'public', namespace: 'infra', annotations: { 'edgeway.dev/backend': 'default/checkout' } },
      spec: { gatewayClassName: 'istio', listeners: [] },
      status: { addresses: [{ type: 'Hostname', value: 'gw.eu.example.com' }] },
    });
    kube.apply('/apis/discovery.k8s.io/v1/endpointslices', {
      metadata: { name: 'checkout-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'checkout' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.2.0.1'] }, { addresses: ['10.2.0.2'], conditions: { ready: false } }, { addresses: ['10.2.0.3'] }],
    });
    await start(cfg({ leaderElection: false }));
    // The Gateway alone: no route attached yet, so no ready pods behind it.
    await waitFor(() => edge.pushes.some((p) => p.body.endpoints.some((e) => e.url === 'https://gw.eu.example.com')), 5000, 'gateway push');
    expect(edge.pushes.at(-1)!.body.endpoints).toEqual([expect.objectContaining({ url: 'https://gw.eu.example.com', readyEndpoints: 0 })]);
    kube.apply('/apis/gateway.networking.k8s.io/v1/httproutes', {
      metadata: { name: 'checkout', namespace: 'shop' },
      spec: { parentRefs: [{ name: 'public', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'checkout', port: 80 }] }] },
    });
    await waitFor(() => edge.pushes.at(-1)!.body.endpoints[0]?.readyEndpoints === 2, 5000, 'ready count from the attached route');
    expect(
      kube.log.some((l) => l.startsWith('GET /apis/gateway.networking.k8s.io/v1/httproutes?allowWatchBookmarks=true&watch=true')),
    ).toBe(true);
  });
});

describe('errors', () => {
  it('counts soft errors (503) and retries with backoff until the push lands', async () => {
    edge.failNext.push(503, 503, 429);
    const a = await start(cfg({ leaderElection: false }));
    await waitFor(() => edge.pushes.length === 1, 5000, 'push after retries');
    expect(await a.metrics.registry.getSingleMetricAsString('edgeway_agent_errors_total')).toMatch(/kind="soft"} 3/);
    expect(a.readiness().ready).toBe(true);
  });

  it('treats a refused credential (401) as fatal', async () => {
    const fatal: Error[] = [];
    await start(cfg({ leaderElection: false, key: 'a-wrong-key-0123456789abcdef' }), (e) => fatal.push(e));
    await waitFor(() => fatal.length > 0, 5000, 'fatal error');
    expect(fatal[0]!.message).toMatch(/401/);
    expect(edge.pushes).toHaveLength(0);
  });

  it('rejects bad configuration listing every problem, without echoing the key', () => {
    let err: unknown;
    try {
      loadConfig({
        EDGEWAY_CLUSTER: 'Bad Cluster',
        EDGEWAY_EDGE_URL: 'not a url',
        EDGEWAY_AGENT_KEY: 'short',
        EDGEWAY_HOSTNAME_MAP: '10.0.0.1',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    for (const v of ['EDGEWAY_CLUSTER', 'EDGEWAY_EDGE_URL', 'EDGEWAY_AGENT_KEY', 'EDGEWAY_HOSTNAME_MAP']) expect(msg).toContain(v);
    expect(msg).not.toContain('short');
  });
});

describe('process', () => {
  it('runs the bundled agent as a process, becomes ready, and exits 0 on SIGTERM releasing its Lease', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeway-agent-'));
    // The same single-file bundle the container image runs (src/agent/bundle.ts).
    const bundle = await bundleAgent(path.join(dir, 'edgeway-agent.mjs'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: kube.url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'agent', user: { token: 'fake-token' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'agent' } }],
        'current-context': 'fake',
      }),
    );
    const child = spawn(process.execPath, [bundle], {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: kubeconfig,
        EDGEWAY_CLUSTER: 'c1',
        EDGEWAY_EDGE_URL: edge.url,
        EDGEWAY_AGENT_KEY: KEY,
        EDGEWAY_HTTP_PORT: '0',
        EDGEWAY_DEBOUNCE_MS: '50',
        EDGEWAY_INGRESS_CLASSES: 'edgeway',
        POD_NAMESPACE: 'edgeway',
        POD_NAME: 'agent-proc',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const port = await waitFor(() => /"event":"agent.started".*"port":(\d+)/.exec(out)?.[1], 20_000, `agent start (output: ${out})`);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 10_000, 'readyz').catch((e: Error) => {
        throw new Error(`${e.message}; agent output:\n${out}`);
      });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      await waitFor(() => edge.pushes.length > 0, 10_000, 'first push from the process');
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(
        /edgeway_agent_reconciles_total\{result="pushed"\} [1-9]/,
      );
      expect(edge.pushes.at(-1)!.body.endpoints.map((e) => e.url)).toEqual(['https://web.lb.example.com']);
      expect(kube.lease('edgeway', 'edgeway-agent')?.spec).toMatchObject({ holderIdentity: 'agent-proc' });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('"signal":"SIGTERM"');
      expect(kube.lease('edgeway', 'edgeway-agent')?.spec).not.toHaveProperty('holderIdentity', 'agent-proc');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
