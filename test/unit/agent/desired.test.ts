/** desiredEndpoints: annotations and status -> endpoints, with every unmappable resource listed as skipped. */
import { describe, expect, it } from 'vitest';
import type { V1EndpointSlice, V1Ingress, V1Service } from '@kubernetes/client-node';
import { desiredEndpoints, readyByService, type ClusterView } from '../../../src/agent/desired.js';

const opts = {
  cluster: 'aws-use1',
  cloud: 'aws',
  region: 'us-east-1',
  scheme: 'https' as const,
  ingressClasses: ['edgeway'],
  gatewayClasses: ['edgeway-gw'],
  claimUnannotatedIngresses: false,
  crossNamespaceGrants: [],
  hostnameMap: { '10.0.0.5': 'use1-origin.example.com' },
};

const ingress = (
  name: string,
  ann: Record<string, string>,
  lb: { hostname?: string; ip?: string }[],
  extra: Partial<V1Ingress['spec']> = {},
): V1Ingress => ({
  metadata: { name, namespace: 'shop', annotations: ann },
  spec: {
    ingressClassName: 'edgeway',
    rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: `${name}-svc` } } }] } }],
    ...extra,
  },
  status: { loadBalancer: { ingress: lb } },
});
let nextIp = 0;
const slice = (svc: string, ready: (boolean | undefined)[], ns = 'shop'): V1EndpointSlice => ({
  addressType: 'IPv4',
  metadata: { name: `${svc}-${Math.random()}`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
  endpoints: ready.map((r) => ({ addresses: [`10.1.0.${nextIp++}`], conditions: r === undefined ? {} : { ready: r } })),
});
const view = (v: Partial<ClusterView>): ClusterView => ({
  ingresses: [],
  services: [],
  endpointSlices: [],
  gateways: [],
  httpRoutes: [],
  ...v,
});

describe('desiredEndpoints', () => {
  it('maps an annotated Ingress to its Backend with hostname, cloud/region, ready pods and source namespace', () => {
    const r = desiredEndpoints(
      view({
        ingresses: [
          ingress('web', { 'edgeway.dev/backend': 'default/blue', 'edgeway.dev/weight': '30', 'edgeway.dev/priority': '1' }, [
            { hostname: 'a1.elb.amazonaws.com' },
          ]),
        ],
        endpointSlices: [slice('web-svc', [true, undefined, false]), slice('web-svc', [true])],
      }),
      { ...opts, crossNamespaceGrants: [{ from: ['shop'], to: 'default' }] },
    );
    expect(r.skipped).toEqual([]);
    expect(r.endpoints).toEqual([
      {
        backend: { namespace: 'default', name: 'blue' },
        url: 'https://a1.elb.amazonaws.com',
        cluster: 'aws-use1',
        cloud: 'aws',
        region: 'us-east-1',
        priority: 1,
        weight: 30,
        readyEndpoints: 3,
        sourceNamespace: 'shop',
      },
    ]);
    expect(r.refused).toEqual([]);
  });

  it('maps bare IPs only through the hostname map, and skips the rest with a reason', () => {
    const r = desiredEndpoints(
      view({ ingresses: [ingress('web', { 'edgeway.dev/backend': 'blue' }, [{ ip: '10.0.0.5' }, { ip: '10.0.0.9' }])] }),
      opts,
    );
    expect(r.endpoints.map((e) => [e.backend, e.url])).toEqual([[{ namespace: 'shop', name: 'blue' }, 'https://use1-origin.example.com']]);
    expect(r.skipped).toEqual([{ resource: 'Ingress shop/web', reason: expect.stringMatching(/10\.0\.0\.9 is a bare IP/) }]);
  });

  it('with claimUnannotatedIngresses, claims <namespace>/<name> for unannotated Ingresses of a watched class only', () => {
    const ingresses = [
      ingress('by-class', {}, [{ hostname: 'x.example.com' }], { ingressClassName: 'edgeway' }),
      ingress('other-class', {}, [{ hostname: 'y.example.com' }], { ingressClassName: 'nginx' }),
    ];
    const r = desiredEndpoints(view({ ingresses }), { ...opts, claimUnannotatedIngresses: true });
    expect(r.endpoints.map((e) => `${e.backend.namespace}/${e.backend.name}`)).toEqual(['shop/by-class']);
    // Off (the default): the annotation is the only opt-in.
    expect(desiredEndpoints(view({ ingresses }), opts).endpoints).toEqual([]);
  });

  it.each([
    [{ 'edgeway.dev/backend': 'a/b/c' }, /is not <namespace>\/<name>/],
    [{ 'edgeway.dev/backend': 'blue', 'edgeway.dev/weight': '-1' }, /weight/],
    [{ 'edgeway.dev/backend': 'blue', 'edgeway.dev/priority': 'high' }, /priority/],
    [{ 'edgeway.dev/backend': 'blue', 'edgeway.dev/scheme': 'ftp' }, /scheme/],
  ])('refuses bad annotations %o', (ann, message) => {
    const r = desiredEndpoints(view({ ingresses: [ingress('web', ann, [{ hostname: 'x.example.com' }])] }), opts);
    expect(r.endpoints).toEqual([]);
    expect(r.refused[0]!.message).toMatch(message);
  });

  it('waits for a load-balancer address', () => {
    const r = desiredEndpoints(view({ ingresses: [ingress('web', { 'edgeway.dev/backend': 'blue' }, [])] }), opts);
    expect(r.skipped[0]!.reason).toMatch(/no load-balancer address/);
  });

  it('reports LoadBalancer Services with their port, and Gateways with routes attached', () => {
    const svc: V1Service = {
      metadata: { name: 'api', namespace: 'shop', annotations: { 'edgeway.dev/backend': 'api', 'edgeway.dev/scheme': 'http' } },
      spec: { type: 'LoadBalancer', ports: [{ port: 8080 }] },
      status: { loadBalancer: { ingress: [{ hostname: 'api.lb.example.com' }] } },
    };
    const clusterIp: V1Service = { ...svc, metadata: { ...svc.metadata, name: 'internal' }, spec: { type: 'ClusterIP' } };
    const r = desiredEndpoints(
      view({
        services: [svc, clusterIp],
        endpointSlices: [slice('api', [true, true]), slice('checkout', [true])],
        gateways: [
          {
            metadata: { name: 'gw', namespace: 'infra', annotations: { 'edgeway.dev/backend': 'default/checkout' } },
            spec: { gatewayClassName: 'edgeway-gw' },
            status: { addresses: [{ type: 'Hostname', value: 'gw.example.com' }] },
          },
        ],
        httpRoutes: [
          {
            metadata: { name: 'r', namespace: 'shop' },
            spec: { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'checkout' }] }] },
          },
          {
            metadata: { name: 'unattached', namespace: 'shop' },
            spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'api' }] }] },
          },
        ],
      }),
      { ...opts, crossNamespaceGrants: [{ from: ['infra'], to: 'default', kinds: ['Gateway'] }] },
    );
    expect(r.refused).toEqual([]);
    expect(r.endpoints.map((e) => [e.url, e.readyEndpoints])).toEqual([
      ['https://gw.example.com', 1],
      ['http://api.lb.example.com:8080', 2],
    ]);
  });
});

it('readyByService counts ready (or unset) endpoints per service across slices', () => {
  expect(Object.fromEntries(readyByService([slice('a', [true, false, undefined]), slice('b', [false])]))).toEqual({
    'shop/a': 2,
    'shop/b': 0,
  });
});
