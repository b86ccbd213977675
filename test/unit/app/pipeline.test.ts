import { describe, expect, it } from 'vitest';
import { createContext, type GatewayDeps, type Handler, type RequestContext, type Stage } from '../../../src/app/context.js';
import { serveRequest } from '../../../src/app/gateway.js';
import { buildPipeline, compose, pipelineFor, STAGES } from '../../../src/app/pipeline.js';
import { accessFields, accessLine } from '../../../src/app/stages/access-log.js';
import { rateLimit } from '../../../src/app/stages/ratelimit.js';
import { securityStage } from '../../../src/app/stages/security.js';
import { IsolateHealth } from '../../../src/health/registry.js';
import { hashApiKey } from '../../../src/security/apikey.js';
import { createJwksRegistry } from '../../../src/security/jwks.js';
import { Snapshot } from '../../../src/schema/snapshot.js';
import { compileTable } from '../../../src/table/compile.js';

const snapshot = (extra: Record<string, unknown> = {}) =>
  Snapshot.parse({
    version: 1,
    createdAt: '2026-12-01T00:00:00Z',
    backends: [
      {
        apiVersion: 'edgeway.dev/v1alpha1',
        kind: 'Backend',
        metadata: { name: 'b' },
        spec: { endpoints: [{ url: 'http://10.0.0.1:8080', cluster: 'c1' }] },
      },
    ],
    routes: [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'shop' },
        spec: {
          hostnames: ['shop.example.com'],
          rules: [
            {
              name: 'old',
              matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
              filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }],
            },
            { name: 'main', backendRefs: [{ name: 'b' }] },
          ],
        },
      },
    ],
    ...extra,
  });

function deps(over: Partial<GatewayDeps> = {}) {
  const lines: Record<string, unknown>[] = [];
  const sent: Request[] = [];
  const d: GatewayDeps = {
    health: new IsolateHealth(),
    fetch: async (r) => {
      sent.push(r);
      return new Response('ok', { headers: { connection: 'close', 'x-up': '1' } });
    },
    now: () => 1000,
    rand: () => 0.5,
    log: (l) => lines.push(l),
    debugHeaders: true,
    waitUntil: () => {},
    ...over,
  };
  return { d, lines, sent };
}

describe('the stage list', () => {
  it('runs in Envoy order: normalise, match, (security), rate limit, redirect, backend, response, forward; the access log outermost', () => {
    expect(STAGES.map((s) => s.name)).toEqual([
      'access-log',
      'normalize',
      'match',
      'metrics',
      'security',
      'rate-limit',
      'redirect',
      'backend',
      'response',
      'forward',
    ]);
  });

  it('composes handlers in list order on the way in and reverse order on the way out, skipping stages with nothing to do', async () => {
    const trace: string[] = [];
    const stage = (name: string, answer = false): Stage => ({
      name,
      build: () => async (ctx, next) => {
        trace.push(`in ${name}`);
        const res = answer ? new Response(name) : await next(ctx);
        trace.push(`out ${name}`);
        return res;
      },
    });
    const absent: Stage = { name: 'absent', build: () => null };
    const run = buildPipeline(undefined, [stage('a'), absent, stage('b'), stage('c', true), stage('d')]);
    const res = await run({} as RequestContext);
    expect(await res.text()).toBe('c');
    expect(trace).toEqual(['in a', 'in b', 'in c', 'out c', 'out b', 'out a']);
  });

  it('fails loudly when the last stage passes the request on', async () => {
    const passOn: Handler = (ctx, next) => next(ctx);
    await expect(compose([passOn])({} as RequestContext)).rejects.toThrow(/no stage answered/);
  });

  it('builds each table version’s pipeline once', () => {
    const t1 = compileTable(snapshot());
    const t2 = compileTable(snapshot());
    expect(pipelineFor(t1)).toBe(pipelineFor(t1));
    expect(pipelineFor(t2)).not.toBe(pipelineFor(t1));
    expect(pipelineFor(undefined)).toBe(pipelineFor(undefined));
  });

  it('leaves the rate-limit stage out of a table without RateLimitPolicies', () => {
    expect(rateLimit.build(compileTable(snapshot()))).toBeNull();
    const limited = snapshot({
      policies: [
        {
          apiVersion: 'edgeway.dev/v1alpha1',
          kind: 'RateLimitPolicy',
          metadata: { name: 'l' },
          spec: {
            targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'shop' }],
            limits: [{ requests: 5, window: '1s' }],
          },
        },
      ],
    });
    expect(rateLimit.build(compileTable(limited))).not.toBeNull();
  });
});

describe('serveRequest through the stages', () => {
  it('answers a redirect at the edge before a backend is chosen', async () => {
    const { d, sent, lines } = deps();
    const res = await serveRequest(new Request('http://shop.example.com/old/x?q=1'), compileTable(snapshot()), d);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://shop.example.com/new/x?q=1');
    expect(sent).toHaveLength(0);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ route: 'default/shop/old', backend: null, status: 302 });
  });

  it('forwards with the forwarding headers and decorates the answer once', async () => {
    const { d, sent, lines } = deps();
    const res = await serveRequest(
      new Request('http://shop.example.com/cart', { headers: { 'x-forwarded-for': '6.6.6.6', 'cf-connecting-ip': '203.0.113.9' } }),
      compileTable(snapshot()),
      d,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBeNull();
    expect(res.headers.get('x-up')).toBe('1');
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-edgeway-backend')).toBe('default/b');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe('http://shop.example.com:8080/cart');
    expect(sent[0]!.headers.get('x-forwarded-for')).toBe('203.0.113.9');
    expect(sent[0]!.headers.get('x-request-id')).toBe(requestId);
    expect(sent[0]!.headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(lines.filter((l) => l.msg === 'request')).toEqual([
      expect.objectContaining({ requestId, route: 'default/shop/main', backend: 'default/b', cluster: 'c1', attempts: 1, status: 200 }),
    ]);
  });

  it('writes the access line as a string of the same shape when writeLine is given, and samples only successes', async () => {
    const written: string[] = [];
    const { d, lines } = deps({ writeLine: (s) => written.push(s), logSampleSuccess: 0 });
    const table = compileTable(snapshot());
    await serveRequest(new Request('http://shop.example.com/cart'), table, d);
    expect(written).toEqual([]);
    const missing = await serveRequest(new Request('http://nowhere.example.com/'), table, d);
    expect(missing.status).toBe(404);
    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0]!)).toMatchObject({ msg: 'request', status: 404, error: 'no_route', host: 'nowhere.example.com' });
    expect(lines.filter((l) => l.msg === 'request')).toEqual([]);

    const half = deps({ writeLine: (s) => written.splice(0, Infinity, s), logSampleSuccess: 0.5, rand: () => 0.4 });
    await serveRequest(new Request('http://shop.example.com/cart'), table, half.d);
    expect(JSON.parse(written[0]!)).toMatchObject({ status: 200, route: 'default/shop/main' });
  });
});

describe('the access-log line', () => {
  it('is byte for byte what JSON.stringify makes of the object form, escapes included', () => {
    const ctx = {
      request: new Request('http://h.example.com/'),
      url: new URL('http://h.example.com:8080/p%22a\\th/\u00e9?x=1'),
      requestId: 'id-1',
      served: {
        route: 'ns/r/rule0',
        backend: 'ns/"b"',
        cluster: 'c\n1',
        endpoint: 'http://10.0.0.1',
        attempts: 2,
        error: 'upstream_timeout',
        panic: true,
      },
    } as unknown as RequestContext;
    const at = '2026-12-03T00:00:00.000Z';
    expect(accessLine(at, ctx, 504, 12)).toBe(JSON.stringify({ at, ...accessFields(ctx, 504, 12) }));
    const bare = { ...ctx, served: {} } as RequestContext;
    expect(accessLine(at, bare, 200, 0)).toBe(JSON.stringify({ at, ...accessFields(bare, 200, 0) }));
  });
});

describe('the match stage', () => {
  it('still matches on query parameters when a rule asks for them', async () => {
    const table = compileTable(
      snapshot({
        routes: [
          {
            apiVersion: 'gateway.networking.k8s.io/v1',
            kind: 'HTTPRoute',
            metadata: { name: 'q' },
            spec: {
              rules: [
                { name: 'beta', matches: [{ queryParams: [{ name: 'beta', value: '1' }] }], backendRefs: [{ name: 'b' }] },
                { name: 'rest', backendRefs: [{ name: 'b' }] },
              ],
            },
          },
        ],
      }),
    );
    const { d, lines } = deps();
    await serveRequest(new Request('http://any.example.com/x?beta=1'), table, d);
    await serveRequest(new Request('http://any.example.com/x?beta=2'), table, d);
    expect(lines.filter((l) => l.msg === 'request').map((l) => l.route)).toEqual(['default/q/beta', 'default/q/rest']);
  });
});

describe('the security stage', () => {
  const apiKey = 'unit-test-key-0123456789';
  const withPolicy = async () =>
    snapshot({
      securityPolicies: [
        {
          apiVersion: 'edgeway.dev/v1alpha1',
          kind: 'SecurityPolicy',
          metadata: { name: 'keys' },
          spec: {
            targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'shop', sectionName: 'main' }],
            apiKeyAuth: { consumers: [{ name: 'acme', keyHashes: [await hashApiKey(apiKey)] }] },
            jwt: {
              optional: true,
              providers: [{ name: 'idp', issuer: 'https://idp.example.com', remoteJWKS: { uri: 'https://idp.example.com/jwks' } }],
            },
          },
        },
      ],
    });

  it('drops out of a table without SecurityPolicies, and compiles a table’s policies once against the isolate’s JWKS registry', async () => {
    const stage = securityStage({ jwks: () => createJwksRegistry({ fetch: async () => Response.json({ keys: [] }) }), log: () => {} });
    expect(stage.build(compileTable(snapshot()))).toBeNull();
    let registries = 0;
    const counted = securityStage({
      jwks: () => {
        registries++;
        return createJwksRegistry({ fetch: async () => Response.json({ keys: [] }) });
      },
      log: () => {},
    });
    const table = compileTable(await withPolicy());
    const { d } = deps();
    const run = compose([counted.build(table)!, async (ctx) => new Response(ctx.security?.principal ?? 'anonymous')]);
    for (let i = 0; i < 3; i++) {
      const ctx = createContext(new Request('http://shop.example.com/', { headers: { 'x-api-key': apiKey } }), table, d);
      ctx.plan = table.plans.forRoute(table.snapshot.routes[0]!)![1]!;
      expect(await (await run(ctx)).text()).toBe('consumer:acme');
    }
    expect(registries).toBe(1);
  });

  it('refuses on the attached rule only, with the reason in the access log line and never the key', async () => {
    const table = compileTable(await withPolicy());
    const { d, sent, lines } = deps();
    const refused = await serveRequest(
      new Request('http://shop.example.com/cart', { headers: { 'x-api-key': `${apiKey}-wrong` } }),
      table,
      d,
    );
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'api_key_invalid' });
    expect(sent).toHaveLength(0);
    const ok = await serveRequest(new Request('http://shop.example.com/cart', { headers: { 'x-api-key': apiKey } }), table, d);
    expect(ok.status).toBe(200);
    expect(sent[0]!.headers.get('x-api-key')).toBeNull();
    expect(sent[0]!.headers.get('x-edgeway-consumer')).toBe('acme');
    // The redirect rule has no policy: answered without a key.
    expect((await serveRequest(new Request('http://shop.example.com/old/x'), table, d)).status).toBe(302);
    const access = lines.filter((l) => l.msg === 'request');
    expect(access.map((l) => [l.status, l.error, l.reason])).toEqual([
      [401, 'api_key_invalid', 'default/keys: unknown api key'],
      [200, null, undefined],
      [302, null, undefined],
    ]);
    expect(JSON.stringify(lines)).not.toContain(apiKey);
    const line = accessLine('t', { ...createContext(new Request('http://x/'), table, d), served: { reason: 'r "q"' } }, 401, 1);
    expect(JSON.parse(line)).toMatchObject({ reason: 'r "q"' });
  });
});
