/** The end-to-end routing table: ~1k HTTPRoutes of mixed shapes, one target route split 90/10 over two Backends. */
import { Snapshot, type SnapshotInput } from '../../src/schema/snapshot.js';

export const TARGET_ROUTE = 'bench-target';
export const TARGET_NAMESPACE = 'bench';
export const TARGET_PATH_PREFIX = '/api/target';

export interface TableOptions {
  routes: number;
  /** Origin every target-route endpoint points at, e.g. http://127.0.0.1:8080. */
  upstream: string;
  /** Host the load generator sends; the target route and a few siblings list it. */
  targetHost: string;
  /** Adds a RateLimitPolicy on the target route, high enough never to deny. */
  rateLimit: boolean;
  /**
   * Target route without hostnames (a catch-all, matched after every host-specific route), so the gateway connects
   * to the endpoint by its own name and needs no resolveOverride: the production-like path. Default false (the
   * target route lists targetHost, as the dev-hook bench has always measured).
   */
  catchAll?: boolean;
  /** Split the target route 90/10 over two Backends (default true); false = one Backend. */
  split?: boolean;
  /** Adds a RequestHeaderModifier and a ResponseHeaderModifier filter to the target rule. */
  filters?: boolean;
}

const FILLER_BACKENDS = 25;

/** What a typical API route carries: a couple of request headers set/added/removed, one response header set and one removed. */
const TARGET_FILTERS = [
  {
    type: 'RequestHeaderModifier' as const,
    requestHeaderModifier: {
      set: [
        { name: 'x-api-version', value: '2' },
        { name: 'x-tenant', value: 'bench' },
      ],
      add: [{ name: 'x-edge', value: 'edgeway' }],
      remove: ['x-debug'],
    },
  },
  {
    type: 'ResponseHeaderModifier' as const,
    responseHeaderModifier: { set: [{ name: 'cache-control', value: 'no-store' }], remove: ['server'] },
  },
];

/**
 * Deterministic (no randomness) so every run routes over the same table. The mix follows the router bench's
 * intent: exact and wildcard hosts, Exact/PathPrefix/RegularExpression paths, header matches, and ~20 routes
 * sharing the target's host so the matcher must choose inside a host, not only between hosts.
 */
export function generateTable(opts: TableOptions): Snapshot {
  const routes: SnapshotInput['routes'] = [];
  const backends: SnapshotInput['backends'] = [];
  for (let b = 0; b < FILLER_BACKENDS; b++)
    backends.push({
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'Backend',
      metadata: { name: `svc-${b}`, namespace: TARGET_NAMESPACE },
      spec: {
        endpoints: [
          { url: `https://ingress-${b}.use1.example.com`, cluster: `use1-${b % 3}`, region: 'us-east-1' },
          { url: `https://ingress-${b}.euw1.example.com`, cluster: `euw1-${b % 3}`, region: 'europe-west1', priority: 1 },
        ],
      },
    });
  for (const name of ['bench-primary', 'bench-canary'])
    backends.push({
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'Backend',
      metadata: { name, namespace: TARGET_NAMESPACE },
      spec: { endpoints: [{ url: opts.upstream, cluster: name === 'bench-primary' ? 'local-a' : 'local-b', region: 'local' }] },
    });

  const siblings = 20;
  const targetAt = Math.floor(opts.routes / 2);
  for (let i = 0; routes.length < opts.routes; i++) {
    if (routes.length === targetAt) {
      routes.push({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: TARGET_ROUTE, namespace: TARGET_NAMESPACE },
        spec: {
          ...(opts.catchAll ? {} : { hostnames: [opts.targetHost] }),
          rules: [
            {
              name: 'split',
              matches: [{ path: { type: 'PathPrefix', value: TARGET_PATH_PREFIX } }],
              ...(opts.filters ? { filters: TARGET_FILTERS } : {}),
              backendRefs:
                opts.split === false
                  ? [{ name: 'bench-primary' }]
                  : [
                      { name: 'bench-primary', weight: 90 },
                      { name: 'bench-canary', weight: 10 },
                    ],
            },
          ],
        },
      });
      continue;
    }
    const backendRefs = [{ name: `svc-${i % FILLER_BACKENDS}` }];
    const meta = { name: `r-${i}`, namespace: TARGET_NAMESPACE };
    const base = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: meta } as const;
    if (i < siblings) {
      routes.push({
        ...base,
        spec: {
          hostnames: [opts.targetHost],
          rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/api/v${i}/items` } }], backendRefs }],
        },
      });
      continue;
    }
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        routes.push({
          ...base,
          spec: {
            hostnames: [`svc${i}.example.com`],
            rules: [
              {
                matches: [{ path: { type: 'PathPrefix', value: `/v1/svc${i}` } }, { path: { type: 'PathPrefix', value: `/v2/svc${i}` } }],
                backendRefs,
              },
            ],
          },
        });
        break;
      case 4:
      case 5:
        routes.push({
          ...base,
          spec: {
            hostnames: [`*.tenant${i}.example.net`],
            rules: [{ matches: [{ path: { type: 'Exact', value: `/status/${i}` } }], backendRefs }],
          },
        });
        break;
      case 6:
      case 7:
        routes.push({
          ...base,
          spec: {
            hostnames: [`re${i}.example.org`],
            rules: [{ matches: [{ path: { type: 'RegularExpression', value: `^/orders/[0-9]+/items/${i}$` } }], backendRefs }],
          },
        });
        break;
      default:
        routes.push({
          ...base,
          spec: {
            hostnames: [`hdr${i}.example.com`, `*.hdr${i}.example.io`],
            rules: [
              { matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-tenant', value: `t${i}` }] }], backendRefs },
            ],
          },
        });
    }
  }

  const policies: SnapshotInput['policies'] = opts.rateLimit
    ? [
        {
          apiVersion: 'edgeway.dev/v1alpha1',
          kind: 'RateLimitPolicy',
          metadata: { name: 'bench-limit', namespace: TARGET_NAMESPACE },
          spec: {
            targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: TARGET_ROUTE }],
            limits: [{ requests: 1_000_000_000, window: '60s' }],
            keys: [{ type: 'ClientIP' }],
          },
        },
      ]
    : [];

  // Parsing through the shared schema applies defaults and fails loudly if the contract moves.
  return Snapshot.parse({ version: 1, createdAt: new Date().toISOString(), routes, backends, policies });
}
