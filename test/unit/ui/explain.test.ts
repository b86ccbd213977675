/** POST /explain's core over a compiled table: the gateway's own stages decide, the explanation says why. */
import { describe, expect, it } from 'vitest';
import { explain, ExplainBody } from '../../../src/admin/explain.js';
import { explainCommand, formatExplanation } from '../../../src/cli/explain.js';
import { IsolateHealth, endpointKey } from '../../../src/health/registry.js';
import { Snapshot } from '../../../src/schema/snapshot.js';
import { compileTable } from '../../../src/table/compile.js';

const backend = {
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Backend',
  metadata: { name: 'api', namespace: 'default' },
  spec: {
    endpoints: [
      { url: 'http://east.example.net', cluster: 'aws-us-east-1', region: 'us-east-1', priority: 0 },
      { url: 'http://gcp.example.net', cluster: 'gcp-us-central1', region: 'us-central1', priority: 1 },
    ],
  },
};
const blue = { ...backend, metadata: { name: 'blue', namespace: 'default' } };
const route = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'api', namespace: 'default' },
  spec: {
    hostnames: ['api.example.com'],
    rules: [
      {
        name: 'legacy',
        matches: [{ path: { type: 'PathPrefix', value: '/v0' } }],
        filters: [
          {
            type: 'RequestRedirect',
            requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v1' }, statusCode: 301 },
          },
        ],
      },
      {
        name: 'main',
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [
          { name: 'api', weight: 3 },
          { name: 'blue', weight: 1 },
        ],
      },
    ],
  },
};
const table = compileTable(Snapshot.parse({ version: 7, createdAt: '2026-12-01T00:00:00Z', routes: [route], backends: [backend, blue] }));
const deps = (health = new IsolateHealth()) => ({ health, now: () => 1_000_000, rand: () => 0.1 });
const body = (b: Record<string, unknown>) => ExplainBody.parse(b);

describe('explain', () => {
  it('names route, rule, the split and the endpoint with its share, from the same matcher and plans', async () => {
    const x = await explain(body({ host: 'API.example.com:443', path: '/orders' }), table, deps());
    expect(x).toMatchObject({
      version: 7,
      outcome: 'forward',
      request: { host: 'api.example.com', path: '/orders', method: 'GET' },
      route: { key: 'default/api', rule: 'default/api/main', ruleIndex: 1, matchedHostname: 'api.example.com' },
      backendRefs: [
        { key: 'default/api', weight: 3, share: 0.75, chosen: true },
        { key: 'default/blue', weight: 1, share: 0.25, chosen: false },
      ],
      backend: { key: 'default/api', panic: false },
      endpoint: { cluster: 'aws-us-east-1', backend: 'default/api' },
    });
    expect(x.backend!.endpoints.map((e) => [e.cluster, e.usable, e.share])).toEqual([
      ['aws-us-east-1', true, 1],
      ['gcp-us-central1', true, 0],
    ]);
    expect(x.steps.map((s) => s.stage)).toEqual(['normalize', 'match', 'backend', 'endpoint']);
  });

  it('says why an endpoint is skipped and where the traffic goes instead', async () => {
    const health = new IsolateHealth();
    const b = table.backends.get('default/api')!;
    const east = b.spec.endpoints[0]!;
    for (let i = 0; i < 5; i++) health.record(endpointKey(b, east), b, 'connect-failure', 1_000_000 - 10);
    const x = await explain(body({ host: 'api.example.com', path: '/' }), table, { ...deps(health), rand: () => 0 });
    const row = x.backend!.endpoints.find((e) => e.cluster === 'aws-us-east-1')!;
    expect(row.usable).toBe(false);
    expect(row.reasons.join()).toMatch(/passive: circuit open/);
    expect(x.endpoint?.cluster).toBe('gcp-us-central1');
    expect(x.steps.at(-1)!.detail).toMatch(/excluded: aws-us-east-1/);
  });

  it('explains redirects, unknown hosts and bad requests without forwarding anything', async () => {
    expect(await explain(body({ host: 'api.example.com', path: '/v0/orders' }), table, deps())).toMatchObject({
      outcome: 'redirect',
      status: 301,
      location: expect.stringMatching(/\/v1\/orders$/),
      route: { rule: 'default/api/legacy' },
    });
    expect(await explain(body({ host: 'nope.example.com', path: '/' }), table, deps())).toMatchObject({
      outcome: 'refused',
      status: 404,
      code: 'no_route',
    });
    expect(await explain(body({ host: 'bad host!', path: '/' }), table, deps())).toMatchObject({
      outcome: 'refused',
      status: 400,
      code: 'bad_request',
    });
    expect(await explain(body({ host: 'api.example.com' }), undefined, deps())).toMatchObject({
      version: null,
      outcome: 'refused',
      code: 'table_unavailable',
    });
  });

  it('follows a sticky session to the same ref every time', async () => {
    const withSession = {
      ...route,
      spec: { ...route.spec, rules: [{ ...route.spec.rules[1]!, sessionPersistence: { sessionName: 's', type: 'Header' } }] },
    };
    const t = compileTable(
      Snapshot.parse({ version: 8, createdAt: '2026-12-01T00:00:00Z', routes: [withSession], backends: [backend, blue] }),
    );
    const picks = new Set<string>();
    for (const r of [0.05, 0.5, 0.95]) {
      const x = await explain(body({ host: 'api.example.com', headers: { s: 'abcdef0123456789' } }), t, { ...deps(), rand: () => r });
      expect(x.session).toEqual({ name: 's', presented: true });
      picks.add(x.backendRefs.find((b) => b.chosen)!.key);
    }
    expect(picks.size).toBe(1);
  });

  it('names a SecurityPolicy on the rule without checking credentials', async () => {
    const policy = {
      apiVersion: 'edgeway.dev/v1alpha1',
      kind: 'SecurityPolicy',
      metadata: { name: 'app-cors', namespace: 'default' },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api', sectionName: 'main' }],
        cors: { allowOrigins: ['https://app.example.com'] },
      },
    };
    const parsed = Snapshot.safeParse({
      version: 9,
      createdAt: '2026-12-01T00:00:00Z',
      routes: [route],
      backends: [backend, blue],
      securityPolicies: [policy],
    });
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    const x = await explain(body({ host: 'api.example.com', path: '/orders' }), compileTable(parsed.data!), deps());
    expect(x.policies).toEqual([{ kind: 'SecurityPolicy', key: 'default/app-cors' }]);
    expect(x.steps.find((s) => s.stage === 'security')?.detail).toBe('default/app-cors (credentials not checked by explain)');
  });

  it('validates the body: a path must start with /, methods are HTTP methods', () => {
    expect(ExplainBody.safeParse({ host: 'a', path: 'orders' }).success).toBe(false);
    expect(ExplainBody.safeParse({ host: 'a', method: 'CONNECT' }).success).toBe(false);
    expect(ExplainBody.parse({ host: 'a' })).toMatchObject({ path: '/', method: 'GET', headers: {} });
  });
});

describe('edgeway explain', () => {
  it('posts the request with the operator token from the environment and prints the answer', async () => {
    const x = await explain(body({ host: 'api.example.com', path: '/orders' }), table, deps());
    const seen: { url: string; init: RequestInit }[] = [];
    const fake = (async (url: URL, init: RequestInit) => {
      seen.push({ url: String(url), init });
      return new Response(JSON.stringify(x), { status: 200 });
    }) as unknown as typeof fetch;
    const lines: string[] = [];
    const code = await explainCommand(
      ['--url', 'http://127.0.0.1:8787', '--host', 'api.example.com', '--path', '/orders', '--header', 'x-a: 1'],
      { log: (l) => lines.push(l), error: (l) => lines.push(`E ${l}`) },
      { EDGEWAY_ADMIN_TOKEN: 'tok-0123456789abcdef' },
      fake,
    );
    expect(code).toBe(0);
    expect(seen[0]!.url).toBe('http://127.0.0.1:8787/_edgeway/v1/explain');
    expect((seen[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer tok-0123456789abcdef');
    expect(JSON.parse(seen[0]!.init.body as string)).toEqual({
      host: 'api.example.com',
      path: '/orders',
      method: 'GET',
      headers: { 'x-a': '1' },
    });
    expect(lines).toEqual(formatExplanation(x));
    expect(lines[1]).toBe('=> default/api/main -> default/api -> aws-us-east-1 http://east.example.net');
  });

  it('refuses without a token or host, and reports a refusal by the API', async () => {
    const lines: string[] = [];
    const out = { log: (l: string) => lines.push(l), error: (l: string) => lines.push(`E ${l}`) };
    expect(await explainCommand(['--url', 'http://x', '--host', 'a'], out, {})).toBe(1);
    expect(await explainCommand(['--url', 'http://x'], out, { ADMIN_TOKEN: 't' })).toBe(1);
    const refused = (async () => new Response('{"error":"unauthorized"}', { status: 401 })) as unknown as typeof fetch;
    expect(await explainCommand(['--url', 'http://x', '--host', 'a'], out, { ADMIN_TOKEN: 't' }, refused)).toBe(1);
    expect(lines.at(-1)).toBe('E edgeway explain: http://x answered 401: {"error":"unauthorized"}');
  });
});
