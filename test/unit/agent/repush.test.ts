/**
 * The heartbeat answer says how many endpoints the edge holds for the cluster. When that is 0 while the agent has
 * endpoints to report, or fewer than the edge recorded after the agent's last push (an operator withdrew them, the
 * edge lost its state), the agent reports its full set again, at most once per heartbeat interval. Also: the key id
 * and audience the agent signs with, against a stub edge holding two keys for the cluster.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { loadConfig, type AgentConfig } from '../../../src/agent/config.js';
import { FakeKube } from './support/fake-kube.js';
import { startStubEdge, waitFor, type StubEdge } from './support/stub-edge.js';

const KEY = 'repush-key-0123456789abcdef';
const NEW_KEY = 'repush-new-key-0123456789abcdef';
const INGRESSES = '/apis/networking.k8s.io/v1/ingresses';
const HEARTBEAT_MS = 300;
let kube: FakeKube;
let edge: StubEdge;
const agents: Agent[] = [];
let logs: Record<string, unknown>[] = [];

const cfg = (over: Partial<AgentConfig> = {}): AgentConfig => ({
  ...loadConfig({
    EDGEWAY_CLUSTER: 'c1',
    EDGEWAY_EDGE_URL: edge.url,
    EDGEWAY_AGENT_KEY: KEY,
    EDGEWAY_HTTP_PORT: '0',
    EDGEWAY_INGRESS_CLASSES: 'edgeway',
    POD_NAMESPACE: 'edgeway',
  }),
  debounceMs: 20,
  backoffBaseMs: 20,
  backoffMaxMs: 100,
  leaderElection: false,
  heartbeatMs: HEARTBEAT_MS,
  ...over,
});

const start = async (c: AgentConfig, onFatal: (e: Error) => void = () => {}) => {
  const a = new Agent(c, { kubeConfig: kube.kubeConfig(), log: (l) => logs.push(l), onFatal });
  agents.push(a);
  await a.start();
  return a;
};

const ingress = (name: string) => ({
  metadata: { name, namespace: 'shop', annotations: { 'edgeway.dev/backend': 'web' } },
  spec: { ingressClassName: 'edgeway' },
  status: { loadBalancer: { ingress: [{ hostname: `${name}.lb.example.com` }] } },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const urls = (i: number) => edge.pushes[i]!.body.endpoints.map((e) => e.url);

beforeEach(async () => {
  logs = [];
  kube = await new FakeKube().start(200);
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await edge.close();
  await kube.close();
});

describe('re-push when the edge holds less than the agent reported', () => {
  beforeEach(async () => {
    edge = await startStubEdge({ c1: KEY });
  });

  it('reports the full set again after the edge lost everything, then stays quiet', async () => {
    kube.apply(INGRESSES, ingress('web'));
    kube.apply(INGRESSES, ingress('api'));
    await start(cfg());
    await waitFor(() => edge.pushes.length === 1, 5000, 'first push');
    await sleep(3 * HEARTBEAT_MS);
    expect(edge.pushes).toHaveLength(1); // the edge holds what was pushed: heartbeats alone
    expect(edge.heartbeats).toBeGreaterThanOrEqual(2);

    // The edge loses the cluster's endpoints (state lost; no cordon): the next heartbeat answers 0.
    edge.held.set('c1', new Set());
    await waitFor(() => edge.pushes.length === 2, 5 * HEARTBEAT_MS, 're-push');
    expect(urls(1)).toEqual(urls(0));
    expect(edge.held.get('c1')!.size).toBe(2);
    expect(logs.find((l) => l.event === 'agent.edge_lost_endpoints')).toMatchObject({ level: 'warn', held: 0, recorded: 2, desired: 2 });
    const heartbeats = edge.heartbeats;
    await sleep(4 * HEARTBEAT_MS);
    expect(edge.heartbeats).toBeGreaterThan(heartbeats);
    expect(edge.pushes).toHaveLength(2);
  });

  it('reports again when the edge holds fewer than it recorded after the last push', async () => {
    kube.apply(INGRESSES, ingress('web'));
    kube.apply(INGRESSES, ingress('api'));
    await start(cfg());
    await waitFor(() => edge.pushes.length === 1, 5000, 'first push');
    edge.held.set('c1', new Set(['https://web.lb.example.com']));
    await waitFor(() => edge.pushes.length === 2, 5 * HEARTBEAT_MS, 're-push');
    expect(urls(1)).toEqual(['https://api.lb.example.com', 'https://web.lb.example.com']);
    expect(logs.find((l) => l.event === 'agent.edge_lost_endpoints')).toMatchObject({ held: 1, recorded: 2 });
  });

  it('re-pushes at most once per heartbeat interval while the edge refuses (withdrawn and cordoned), and stops after uncordon', async () => {
    kube.apply(INGRESSES, ingress('web'));
    await start(cfg());
    await waitFor(() => edge.pushes.length === 1, 5000, 'first push');
    edge.withdraw('c1');
    const heartbeatsBefore = edge.heartbeats;
    await waitFor(() => edge.pushes.length >= 4, 10 * HEARTBEAT_MS, 'repeated re-pushes while cordoned');
    // Every re-push follows a heartbeat that answered 0: never more re-pushes than heartbeats, never two in one interval.
    const repushes = edge.pushes.slice(1);
    expect(repushes.length).toBeLessThanOrEqual(edge.heartbeats - heartbeatsBefore);
    for (let i = 1; i < repushes.length; i++) expect(repushes[i]!.at - repushes[i - 1]!.at).toBeGreaterThan(HEARTBEAT_MS / 2);
    for (const p of repushes) expect(p.body.endpoints.map((e) => e.url)).toEqual(['https://web.lb.example.com']);
    expect(edge.held.get('c1')!.size).toBe(0);
    // Warned once when it started, not on every heartbeat.
    const lost = logs.filter((l) => l.event === 'agent.edge_lost_endpoints');
    expect(lost.length).toBeGreaterThanOrEqual(3);
    expect(lost.filter((l) => l.level === 'warn')).toHaveLength(1);

    edge.uncordon('c1');
    await waitFor(() => edge.held.get('c1')!.size === 1, 5 * HEARTBEAT_MS, 'recorded again after uncordon');
    const pushes = edge.pushes.length;
    await sleep(4 * HEARTBEAT_MS);
    expect(edge.pushes).toHaveLength(pushes);
  });

  it('does not re-push when it has nothing to report', async () => {
    await start(cfg());
    await waitFor(() => edge.pushes.length === 1, 5000, 'first (empty) push');
    expect(urls(0)).toEqual([]);
    await sleep(4 * HEARTBEAT_MS);
    expect(edge.heartbeats).toBeGreaterThanOrEqual(3);
    expect(edge.pushes).toHaveLength(1);
    expect(logs.some((l) => l.event === 'agent.edge_lost_endpoints')).toBe(false);
  });

  it('ignores a heartbeat answer without an endpoint count (an older edge)', async () => {
    kube.apply(INGRESSES, ingress('web'));
    const a = await start(cfg());
    await waitFor(() => edge.pushes.length === 1, 5000, 'first push');
    // The edge lost everything, but answers heartbeats as an edge from before the count did.
    edge.held.set('c1', new Set());
    const client = (a as unknown as { edge: { heartbeat: () => Promise<unknown> } }).edge;
    let heartbeats = 0;
    client.heartbeat = async () => {
      heartbeats++;
      return { version: 1, changed: false };
    };
    await sleep(4 * HEARTBEAT_MS);
    expect(heartbeats).toBeGreaterThanOrEqual(3);
    expect(edge.pushes).toHaveLength(1);
  });
});

describe('key id and audience', () => {
  beforeEach(async () => {
    // Mid-rotation: two keys for the cluster, and an audience.
    edge = await startStubEdge({ c1: { k1: KEY, k2: NEW_KEY } }, { audience: 'prod-eu' });
    kube.apply(INGRESSES, ingress('web'));
  });

  it('signs with keyid "<cluster>/<key id>" and the audience as tag; both keys work during the rotation', async () => {
    await start(cfg({ key: NEW_KEY, keyId: 'k2', audience: 'prod-eu' }));
    await waitFor(() => edge.pushes.length === 1 && edge.heartbeats > 0, 5000, 'push and heartbeat with k2');
    expect(edge.pushes[0]!.keyid).toBe('c1/k2');
    await agents.splice(0)[0]!.stop();
    await start(cfg({ key: KEY, keyId: 'k1', audience: 'prod-eu' }));
    await waitFor(() => edge.pushes.length === 2, 5000, 'push with k1');
    expect(edge.pushes[1]!.keyid).toBe('c1/k1');
    expect(edge.refusals).toEqual([]);
  });

  it.each([
    ['a wrong audience', { key: NEW_KEY, keyId: 'k2', audience: 'staging' }, 'wrong-audience'],
    ['no audience', { key: NEW_KEY, keyId: 'k2', audience: undefined }, 'wrong-audience'],
    ['the old key under the new id', { key: KEY, keyId: 'k2', audience: 'prod-eu' }, 'bad-signature'],
    ['an unknown key id', { key: NEW_KEY, keyId: 'k3', audience: 'prod-eu' }, 'unknown-key'],
  ])('is refused with %s (fatal, nothing recorded)', async (_what, over, reason) => {
    const fatal: Error[] = [];
    await start(cfg(over), (e) => fatal.push(e));
    await waitFor(() => fatal.length > 0, 5000, 'fatal error');
    expect(fatal[0]!.message).toMatch(/401/);
    expect(edge.pushes).toHaveLength(0);
    expect(edge.refusals[0]).toBe(reason);
  });
});
