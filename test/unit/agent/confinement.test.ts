/** Agent confinement (issue 9, item 2): what a namespace user can make the agent report, and what is refused.
 * Adversarial: cross-namespace claims, classes, garbage and out-of-range annotations, foreign host-headers, huge
 * values; then the Agent itself: each refusal logged once, counted in /metrics and listed on /status. */
import type { V1Ingress, V1Service } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { ConfigError, loadConfig, type AgentConfig } from '../../../src/agent/config.js';
import {
  desiredEndpoints,
  hostServed,
  type ClusterView,
  type DesiredOptions,
  type GatewayObject,
  type HTTPRouteObject,
} from '../../../src/agent/desired.js';
import { Endpoint } from '../../../src/schema/backend.js';
import { FakeKube } from './support/fake-kube.js';
import { startStubEdge, waitFor, type StubEdge } from './support/stub-edge.js';

const opts: DesiredOptions = {
  cluster: 'c1',
  scheme: 'https',
  ingressClasses: ['edgeway'],
  gatewayClasses: ['edgeway-gw'],
  claimUnannotatedIngresses: false,
  crossNamespaceGrants: [],
  hostnameMap: {},
};
const view = (v: Partial<ClusterView>): ClusterView => ({
  ingresses: [],
  services: [],
  endpointSlices: [],
  gateways: [],
  httpRoutes: [],
  ...v,
});

/** An Ingress of class `edgeway` serving shop.example.com (rule) and *.shop.example.com (TLS). */
const ingress = (ns: string, name: string, ann: Record<string, string>, spec: Partial<V1Ingress['spec']> = {}): V1Ingress => ({
  metadata: { name, namespace: ns, annotations: ann },
  spec: {
    ingressClassName: 'edgeway',
    rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web' } } }] } }],
    tls: [{ hosts: ['*.shop.example.com'] }],
    ...spec,
  },
  status: { loadBalancer: { ingress: [{ hostname: `${ns}-${name}.lb.example.com` }] } },
});
const service = (ns: string, name: string, ann: Record<string, string>): V1Service => ({
  metadata: { name, namespace: ns, annotations: ann },
  spec: { type: 'LoadBalancer', ports: [{ port: 443 }] },
  status: { loadBalancer: { ingress: [{ hostname: `${ns}-${name}.lb.example.com` }] } },
});
const gateway = (ns: string, name: string, ann: Record<string, string>, cls: string | null = 'edgeway-gw'): GatewayObject => ({
  metadata: { name, namespace: ns, annotations: ann },
  spec: { ...(cls ? { gatewayClassName: cls } : {}), listeners: [{ name: 'https', hostname: '*.gw.example.com' }] },
  status: { addresses: [{ type: 'Hostname', value: `${ns}-${name}.gw-lb.example.com` }] },
});
const route = (ns: string, gw: { ns: string; name: string }, hostnames: string[]): HTTPRouteObject => ({
  metadata: { name: `r-${ns}`, namespace: ns },
  spec: { hostnames, parentRefs: [{ name: gw.name, namespace: gw.ns }], rules: [{ backendRefs: [{ name: 'web' }] }] },
});

const claimed = (r: ReturnType<typeof desiredEndpoints>) =>
  r.endpoints.map((e) => `${e.backend.namespace}/${e.backend.name} <- ${e.sourceNamespace}`);

describe('cross-namespace claims', () => {
  const byKind = {
    Ingress: (ns: string, ann: Record<string, string>) => view({ ingresses: [ingress(ns, 'x', ann)] }),
    Service: (ns: string, ann: Record<string, string>) => view({ services: [service(ns, 'x', ann)] }),
    Gateway: (ns: string, ann: Record<string, string>) => view({ gateways: [gateway(ns, 'x', ann)] }),
  };

  it.each(Object.keys(byKind) as (keyof typeof byKind)[])(
    'a %s in team-a claiming payments/api is refused by default, and reported once granted',
    (kind) => {
      const v = byKind[kind]('team-a', { 'edgeway.dev/backend': 'payments/api', 'edgeway.dev/weight': '1000000' });
      const r = desiredEndpoints(v, opts);
      expect(r.endpoints).toEqual([]);
      expect(r.refused).toEqual([
        { kind, namespace: 'team-a', name: 'x', reason: 'cross-namespace-not-granted', message: expect.stringContaining('payments/api') },
      ]);
      const granted = desiredEndpoints(v, { ...opts, crossNamespaceGrants: [{ from: ['team-a'], to: 'payments' }] });
      expect(granted.refused).toEqual([]);
      expect(claimed(granted)).toEqual(['payments/api <- team-a']);
    },
  );

  it('a bare name or its own namespace is always allowed', () => {
    const r = desiredEndpoints(
      view({
        ingresses: [
          ingress('team-a', 'bare', { 'edgeway.dev/backend': 'api' }),
          ingress('team-a', 'own', { 'edgeway.dev/backend': 'team-a/web' }),
        ],
      }),
      opts,
    );
    expect(r.refused).toEqual([]);
    expect(claimed(r).sort()).toEqual(['team-a/api <- team-a', 'team-a/web <- team-a']);
  });

  it.each([
    ['another source namespace', { from: ['team-b'], to: 'payments' }],
    ['another target namespace', { from: ['team-a'], to: 'billing' }],
    ['other Backend names', { from: ['team-a'], to: 'payments', names: ['web'] }],
    ['other kinds', { from: ['team-a'], to: 'payments', kinds: ['Gateway' as const] }],
  ])('a grant for %s does not allow it', (_what, grant) => {
    const r = desiredEndpoints(view({ ingresses: [ingress('team-a', 'x', { 'edgeway.dev/backend': 'payments/api' })] }), {
      ...opts,
      crossNamespaceGrants: [grant],
    });
    expect(r.endpoints).toEqual([]);
    expect(r.refused.map((x) => x.reason)).toEqual(['cross-namespace-not-granted']);
  });

  it('a grant narrowed by names and kinds allows exactly that', () => {
    const grant = { from: ['team-a'], to: 'payments', names: ['api'], kinds: ['Ingress' as const] };
    const r = desiredEndpoints(
      view({
        ingresses: [
          ingress('team-a', 'x', { 'edgeway.dev/backend': 'payments/api' }),
          ingress('team-a', 'y', { 'edgeway.dev/backend': 'payments/admin' }),
        ],
        services: [service('team-a', 's', { 'edgeway.dev/backend': 'payments/api' })],
      }),
      { ...opts, crossNamespaceGrants: [grant] },
    );
    expect(claimed(r)).toEqual(['payments/api <- team-a']);
    expect(r.refused.map((x) => `${x.kind} ${x.name} ${x.reason}`)).toEqual([
      'Ingress y cross-namespace-not-granted',
      'Service s cross-namespace-not-granted',
    ]);
  });

  it('a refused object adds nothing to a shared address, and the Backend’s own namespace names the merged endpoint', () => {
    const shared = { loadBalancer: { ingress: [{ hostname: 'nginx.lb.example.com' }] } };
    const r = desiredEndpoints(
      view({
        ingresses: [
          { ...ingress('aaa', 'granted', { 'edgeway.dev/backend': 'payments/api' }), status: shared },
          { ...ingress('intruder', 'x', { 'edgeway.dev/backend': 'payments/api', 'edgeway.dev/weight': '1000000' }), status: shared },
          { ...ingress('payments', 'own', { 'edgeway.dev/backend': 'api', 'edgeway.dev/weight': '5' }), status: shared },
        ],
      }),
      { ...opts, crossNamespaceGrants: [{ from: ['aaa'], to: 'payments' }] },
    );
    expect(r.endpoints).toHaveLength(1);
    expect(r.endpoints[0]).toMatchObject({ sourceNamespace: 'payments', weight: 5 });
    expect(r.refused.map((x) => x.namespace)).toEqual(['intruder']);
  });
});

describe('classes', () => {
  const ann = { 'edgeway.dev/backend': 'web' };
  it.each([
    ['another class', { ingressClassName: 'nginx' }, {}],
    ['no class at all', { ingressClassName: undefined }, {}],
    [
      'a watched spec class but another legacy annotation class',
      { ingressClassName: 'edgeway' },
      { 'kubernetes.io/ingress.class': 'nginx' },
    ],
    ['another legacy annotation class', { ingressClassName: undefined }, { 'kubernetes.io/ingress.class': 'nginx' }],
  ])('ignores an annotated Ingress with %s', (_what, spec, extraAnn) => {
    const r = desiredEndpoints(view({ ingresses: [ingress('shop', 'x', { ...ann, ...extraAnn }, spec)] }), opts);
    expect(r).toEqual({ endpoints: [], skipped: [], refused: [] });
  });

  it('honours the legacy kubernetes.io/ingress.class annotation', () => {
    const r = desiredEndpoints(
      view({ ingresses: [ingress('shop', 'x', { ...ann, 'kubernetes.io/ingress.class': 'edgeway' }, { ingressClassName: undefined })] }),
      opts,
    );
    expect(claimed(r)).toEqual(['shop/web <- shop']);
  });

  it('no watched class means no Ingress at all', () => {
    expect(desiredEndpoints(view({ ingresses: [ingress('shop', 'x', ann)] }), { ...opts, ingressClasses: [] }).endpoints).toEqual([]);
  });

  it('considers only Gateways of a watched GatewayClass', () => {
    const r = desiredEndpoints(
      view({ gateways: [gateway('shop', 'other', ann, 'istio'), gateway('shop', 'none', ann, null), gateway('shop', 'ours', ann)] }),
      opts,
    );
    expect(r.endpoints.map((e) => e.url)).toEqual(['https://shop-ours.gw-lb.example.com']);
    expect(r.refused).toEqual([]);
  });

  it('ignores annotated Services that are not LoadBalancers', () => {
    const svc = { ...service('shop', 'x', ann), spec: { type: 'ClusterIP' } };
    expect(desiredEndpoints(view({ services: [svc] }), opts).endpoints).toEqual([]);
  });
});

describe('annotation bounds', () => {
  const refuse = (ann: Record<string, string>) =>
    desiredEndpoints(view({ ingresses: [ingress('shop', 'x', { 'edgeway.dev/backend': 'web', ...ann })] }), opts);

  it('takes the weight and priority bounds from the Endpoint schema', () => {
    const w = Endpoint.shape.weight.unwrap();
    const p = Endpoint.shape.priority.unwrap();
    expect(refuse({ 'edgeway.dev/weight': String(w.maxValue! + 1) }).refused[0]!.message).toContain(`${w.minValue}..${w.maxValue}`);
    expect(refuse({ 'edgeway.dev/priority': String(p.maxValue! + 1) }).refused[0]!.message).toContain(`${p.minValue}..${p.maxValue}`);
  });

  it.each([
    [
      'edgeway.dev/weight',
      ['-1', '1000001', '1e3', '0x10', ' 5', '5 ', '', '1.5', '+5', 'NaN', 'Infinity', '99999999999999999999', '٣', '1_000'],
    ],
    ['edgeway.dev/priority', ['17', '-1', 'high', '', '0.5', '1e1', '16 ']],
    ['edgeway.dev/port', ['0', '65536', 'https', '', '-443', '443.0']],
    ['edgeway.dev/scheme', ['ftp', 'HTTPS', 'https ', '', 'http://']],
  ])('refuses %s values %j (the object is not reported with defaults)', (key, values) => {
    const reason = `invalid-${key.slice('edgeway.dev/'.length)}`;
    for (const value of values) {
      const r = refuse({ [key]: value });
      expect(r.endpoints, `${key}=${JSON.stringify(value)}`).toEqual([]);
      expect(
        r.refused.map((x) => x.reason),
        `${key}=${JSON.stringify(value)}`,
      ).toEqual([reason]);
    }
  });

  it.each([
    ['edgeway.dev/weight', '0', { weight: 0 }],
    ['edgeway.dev/weight', '1000000', { weight: 1_000_000 }],
    ['edgeway.dev/priority', '16', { priority: 16 }],
    ['edgeway.dev/port', '65535', { url: 'https://shop-x.lb.example.com:65535' }],
    ['edgeway.dev/scheme', 'http', { url: 'http://shop-x.lb.example.com' }],
  ])('accepts %s=%s at the bounds', (key, value, want) => {
    const r = refuse({ [key]: value });
    expect(r.refused).toEqual([]);
    expect(r.endpoints[0]).toMatchObject(want);
  });

  it('refuses unknown edgeway.dev annotations (typos) and a missing backend, listing every problem', () => {
    const typo = refuse({ 'edgeway.dev/wieght': '5' });
    expect(typo.refused.map((x) => [x.reason, x.message])).toEqual([
      ['unknown-annotation', expect.stringContaining('"edgeway.dev/wieght"')],
    ]);
    const r = desiredEndpoints(
      view({ ingresses: [ingress('shop', 'x', { 'edgeway.dev/weight': 'x', 'edgeway.dev/scheme': 'ftp' })] }),
      opts,
    );
    expect(r.refused[0]!.reason).toBe('missing-backend');
    expect(r.refused[0]!.message.split('; ')).toHaveLength(3);
  });

  it('bounds huge annotation values in messages and refuses them', () => {
    const huge = 'a'.repeat(256 * 1024);
    const cases: Record<string, string>[] = [
      { 'edgeway.dev/backend': `${huge}/api` },
      { 'edgeway.dev/backend': 'web', 'edgeway.dev/weight': '9'.repeat(100_000) },
      { 'edgeway.dev/backend': 'web', 'edgeway.dev/host-header': `${huge}.shop.example.com` },
      { 'edgeway.dev/backend': 'web', 'edgeway.dev/scheme': huge },
      { 'edgeway.dev/backend': 'web', [`edgeway.dev/${'x'.repeat(200)}`]: huge },
    ];
    for (const ann of cases) {
      const r = desiredEndpoints(view({ ingresses: [ingress('shop', 'x', ann)] }), opts);
      expect(r.endpoints).toEqual([]);
      expect(r.refused).toHaveLength(1);
      expect(r.refused[0]!.message.length).toBeLessThan(1000);
    }
  });
});

describe('host-header', () => {
  const withHeader = (h: string) => ({ 'edgeway.dev/backend': 'web', 'edgeway.dev/host-header': h });

  it.each([
    ['shop.example.com', 'a rule host'],
    ['eu.shop.example.com', 'under a TLS wildcard host'],
  ])('accepts %s (%s of the Ingress)', (h) => {
    const r = desiredEndpoints(view({ ingresses: [ingress('shop', 'x', withHeader(h))] }), opts);
    expect(r.refused).toEqual([]);
    expect(r.endpoints[0]!.hostHeader).toBe(h);
  });

  it.each([
    ['payments.example.com', 'host-header-not-served'],
    ['a.eu.shop.example.com', 'host-header-not-served'], // an Ingress wildcard covers one label only
    ['shop.example.com.evil.test', 'host-header-not-served'],
    ['example.com', 'host-header-not-served'],
    ['*.shop.example.com', 'invalid-host-header'],
    ['SHOP.example.com', 'invalid-host-header'],
    ['shop.example.com:443', 'invalid-host-header'],
    ['10.0.0.1', 'invalid-host-header'],
    ['', 'invalid-host-header'],
    ['shop.example.com\r\nx-evil: 1', 'invalid-host-header'],
  ])('refuses %j on an Ingress (%s)', (h, reason) => {
    const r = desiredEndpoints(view({ ingresses: [ingress('shop', 'x', withHeader(h))] }), opts);
    expect(r.endpoints).toEqual([]);
    expect(r.refused.map((x) => x.reason)).toEqual([reason]);
  });

  it('refuses any host-header on a LoadBalancer Service (it serves no hostname)', () => {
    const r = desiredEndpoints(view({ services: [service('shop', 's', withHeader('shop.example.com'))] }), opts);
    expect(r.endpoints).toEqual([]);
    expect(r.refused[0]).toMatchObject({ reason: 'host-header-not-served', message: expect.stringMatching(/Service serves no hostname/) });
  });

  it('on a Gateway: its listener hostnames and its own namespace’s attached HTTPRoutes, not other namespaces’ routes', () => {
    const gw = { ns: 'shop', name: 'x' };
    const httpRoutes = [route('shop', gw, ['api.shop.example.com']), route('intruder', gw, ['payments.example.com'])];
    const run = (h: string) => desiredEndpoints(view({ gateways: [gateway('shop', 'x', withHeader(h))], httpRoutes }), opts);
    expect(run('a.b.gw.example.com').refused).toEqual([]); // Gateway API wildcards match any prefix
    expect(run('api.shop.example.com').refused).toEqual([]);
    expect(run('gw.example.com').refused.map((x) => x.reason)).toEqual(['host-header-not-served']);
    expect(run('payments.example.com').refused.map((x) => x.reason)).toEqual(['host-header-not-served']);
  });

  it('hostServed: exact, one-label and suffix wildcards, case-insensitive', () => {
    expect(hostServed('A.example.com', [{ host: '*.example.com', wildcard: 'one-label' }])).toBe(true);
    expect(hostServed('a.b.example.com', [{ host: '*.example.com', wildcard: 'one-label' }])).toBe(false);
    expect(hostServed('a.b.example.com', [{ host: '*.example.com', wildcard: 'suffix' }])).toBe(true);
    expect(hostServed('example.com', [{ host: '*.example.com', wildcard: 'suffix' }])).toBe(false);
    expect(hostServed('xexample.com', [{ host: '*.example.com', wildcard: 'suffix' }])).toBe(false);
    expect(hostServed('example.com', [])).toBe(false);
  });
});

describe('configuration', () => {
  const base = { EDGEWAY_CLUSTER: 'c1', EDGEWAY_EDGE_URL: 'https://edge.example.com', EDGEWAY_AGENT_KEY: 'k'.repeat(16) };

  it('reads classes, the unannotated-Ingress switch and grants; defaults to none', () => {
    expect(loadConfig(base)).toMatchObject({
      ingressClasses: [],
      gatewayClasses: [],
      claimUnannotatedIngresses: false,
      crossNamespaceGrants: [],
    });
    const c = loadConfig({
      ...base,
      EDGEWAY_INGRESS_CLASSES: '["edgeway","nginx"]',
      EDGEWAY_GATEWAY_CLASSES: 'edgeway-gw',
      EDGEWAY_CLAIM_UNANNOTATED_INGRESSES: 'true',
      EDGEWAY_CROSS_NAMESPACE_GRANTS: '[{"from":["team-a"],"to":"payments","names":["api"],"kinds":["Ingress"]}]',
    });
    expect(c).toMatchObject({
      ingressClasses: ['edgeway', 'nginx'],
      gatewayClasses: ['edgeway-gw'],
      claimUnannotatedIngresses: true,
      crossNamespaceGrants: [{ from: ['team-a'], to: 'payments', names: ['api'], kinds: ['Ingress'] }],
    });
  });

  it.each([
    ['not JSON', 'team-a=payments'],
    ['an object, not an array', '{"from":["team-a"],"to":"payments"}'],
    ['a wildcard namespace', '[{"from":["*"],"to":"payments"}]'],
    ['an empty from', '[{"from":[],"to":"payments"}]'],
    ['an empty names list (ambiguous)', '[{"from":["a"],"to":"payments","names":[]}]'],
    ['an unknown kind', '[{"from":["a"],"to":"payments","kinds":["Pod"]}]'],
    ['an unknown field (typo)', '[{"from":["a"],"too":"payments"}]'],
  ])('refuses grants that are %s', (_what, raw) => {
    expect(() => loadConfig({ ...base, EDGEWAY_CROSS_NAMESPACE_GRANTS: raw })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, EDGEWAY_CROSS_NAMESPACE_GRANTS: raw })).toThrow(/EDGEWAY_CROSS_NAMESPACE_GRANTS/);
  });
});

describe('the agent reports refusals', () => {
  const KEY = 'confinement-key-0123456789abcdef';
  const INGRESSES = '/apis/networking.k8s.io/v1/ingresses';
  let kube: FakeKube;
  let edge: StubEdge;
  let agent: Agent | undefined;

  beforeEach(async () => {
    kube = await new FakeKube().start(200);
    edge = await startStubEdge({ c1: KEY });
  });
  afterEach(async () => {
    await agent?.stop();
    await edge.close();
    await kube.close();
  });

  it('logs each refused object once, counts it in /metrics with its namespace/name, lists it on /status, and never pushes it', async () => {
    const logs: Record<string, unknown>[] = [];
    const config: AgentConfig = {
      ...loadConfig({ EDGEWAY_CLUSTER: 'c1', EDGEWAY_EDGE_URL: edge.url, EDGEWAY_AGENT_KEY: KEY, EDGEWAY_HTTP_PORT: '0' }),
      ingressClasses: ['edgeway'],
      leaderElection: false,
      debounceMs: 20,
    };
    kube.apply(INGRESSES, ingress('shop', 'ok', { 'edgeway.dev/backend': 'web' }) as never);
    kube.apply(INGRESSES, ingress('intruder', 'grab', { 'edgeway.dev/backend': 'payments/api', 'edgeway.dev/weight': '1000000' }) as never);
    agent = new Agent(config, { kubeConfig: kube.kubeConfig(), log: (l) => logs.push(l), onFatal: () => {} });
    const { port } = await agent.start();
    await waitFor(() => edge.pushes.length >= 1);
    // More events and resyncs: the refusal is not logged or counted again.
    for (let i = 0; i < 3; i++) {
      const pushes = edge.pushes.length;
      kube.apply(INGRESSES, ingress('shop', 'ok', { 'edgeway.dev/backend': 'web', 'edgeway.dev/weight': String(i + 2) }) as never);
      await waitFor(() => edge.pushes.length > pushes);
    }
    expect(edge.pushes.flatMap((p) => p.body.endpoints.map((e) => e.url))).not.toContain('https://intruder-grab.lb.example.com');
    expect(edge.pushes.at(-1)!.body.endpoints.map((e) => e.url)).toEqual(['https://shop-ok.lb.example.com']);
    const refusedLogs = logs.filter((l) => l.event === 'agent.refused');
    expect(refusedLogs).toEqual([
      expect.objectContaining({
        level: 'warn',
        kind: 'Ingress',
        namespace: 'intruder',
        name: 'grab',
        reason: 'cross-namespace-not-granted',
      }),
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^edgeway_agent_refused_objects_total\{reason="cross-namespace-not-granted"\} 1$/m);
    expect(metrics).toMatch(/^edgeway_agent_refused_objects\{reason="cross-namespace-not-granted"\} 1$/m);
    expect(metrics).toMatch(/^edgeway_agent_refused_objects\{reason="invalid-weight"\} 0$/m);
    expect(metrics).toMatch(
      /^edgeway_agent_refused_object\{kind="Ingress",namespace="intruder",name="grab",reason="cross-namespace-not-granted"\} 1$/m,
    );
    const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { refused: unknown[] };
    expect(status.refused).toEqual([
      expect.objectContaining({ namespace: 'intruder', name: 'grab', reason: 'cross-namespace-not-granted' }),
    ]);

    // Fixed: the refusal clears from the metrics and the status, and is logged as cleared.
    kube.remove(INGRESSES, 'intruder', 'grab');
    await waitFor(() => logs.some((l) => l.event === 'agent.refusal_cleared'));
    const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(after).toMatch(/^edgeway_agent_refused_objects\{reason="cross-namespace-not-granted"\} 0$/m);
    expect(after).not.toMatch(/edgeway_agent_refused_object\{/);
    expect(((await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { refused: unknown[] }).refused).toEqual([]);
  });

  it('logs and exports endpoints the edge records but refuses to serve', async () => {
    const logs: Record<string, unknown>[] = [];
    edge.refused = [{ backend: 'shop/web', url: 'https://shop-ok.lb.example.com', reason: 'not-admitted' }];
    kube.apply(INGRESSES, ingress('shop', 'ok', { 'edgeway.dev/backend': 'web' }) as never);
    agent = new Agent(
      {
        ...loadConfig({ EDGEWAY_CLUSTER: 'c1', EDGEWAY_EDGE_URL: edge.url, EDGEWAY_AGENT_KEY: KEY, EDGEWAY_HTTP_PORT: '0' }),
        ingressClasses: ['edgeway'],
        leaderElection: false,
        debounceMs: 20,
      },
      { kubeConfig: kube.kubeConfig(), log: (l) => logs.push(l), onFatal: () => {} },
    );
    await agent.start();
    await waitFor(() => logs.find((l) => l.event === 'agent.edge_refused'));
    expect(logs.find((l) => l.event === 'agent.edge_refused')).toMatchObject({ count: 1, sample: edge.refused });
    expect(await agent.metrics.registry.getSingleMetricAsString('edgeway_agent_edge_refused_endpoints')).toMatch(/ 1$/m);
  });
});
