/** Issue 10 in workerd: RE2 regexes on hostile input, matching on the normalised path, Gateway API conformance. */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { validateResources } from '../../src/admin/state.js';
import { serveRequest, type GatewayDeps } from '../../src/app/gateway.js';
import { IsolateHealth } from '../../src/health/registry.js';
import { devFetch } from '../../src/proxy/dev-fetch.js';
import type { PathPolicy } from '../../src/routing/normalize.js';
import { Resource, toSnapshot } from '../../src/schema/snapshot.js';
import { compileTable } from '../../src/table/compile.js';
import { backend, endpoint, get, publish, route } from './helpers.js';

const resources = () => [
  backend('blue', [endpoint('blue')]),
  backend('green', [endpoint('green')]),
  backend('mirror', [endpoint('euw1')]),
  route('files', {
    hostnames: ['files.example.com'],
    rules: [
      { matches: [{ path: { type: 'RegularExpression', value: '/files/([a-z0-9]+)+\\.txt' } }], backendRefs: [{ name: 'green' }] },
      {
        matches: [
          { path: { type: 'PathPrefix', value: '/h' }, headers: [{ type: 'RegularExpression', name: 'x-words', value: '(\\w+\\s?)*$' }] },
        ],
        backendRefs: [{ name: 'green' }],
      },
      { backendRefs: [{ name: 'blue' }] },
    ],
  }),
  route('site', {
    hostnames: ['site.example.com'],
    rules: [
      { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }], backendRefs: [{ name: 'green' }] },
      { backendRefs: [{ name: 'blue' }] },
    ],
  }),
  route('conformance', {
    hostnames: ['conf.example.com'],
    rules: [
      {
        name: 'add',
        matches: [{ path: { type: 'PathPrefix', value: '/add' } }],
        filters: [
          {
            type: 'RequestHeaderModifier',
            requestHeaderModifier: {
              add: [{ name: 'X-Header-Add', value: 'add-appends-values' }],
              set: [{ name: 'X-Header-Set', value: 'set' }],
            },
          },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X-Upstream', value: 'edge' }] } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror' } } },
        ],
        backendRefs: [{ name: 'blue' }],
      },
      {
        name: 'rewrite-add',
        matches: [{ path: { type: 'PathPrefix', value: '/rewrite' } }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }],
        backendRefs: [
          {
            name: 'blue',
            filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-header-add', value: 'from-ref' }] } }],
          },
        ],
      },
      {
        name: 'half-missing',
        matches: [{ path: { type: 'PathPrefix', value: '/half' } }],
        backendRefs: [{ name: 'blue' }, { name: 'does-not-exist' }],
      },
      { name: 'missing', matches: [{ path: { type: 'PathPrefix', value: '/missing' } }], backendRefs: [{ name: 'does-not-exist' }] },
      {
        name: 'service',
        matches: [{ path: { type: 'PathPrefix', value: '/service' } }],
        // A core Service named like an existing Backend is still not an Edgeway Backend.
        backendRefs: [{ group: '', kind: 'Service', name: 'blue', port: 80 }],
      },
      {
        name: 'no-timeouts',
        matches: [{ path: { type: 'PathPrefix', value: '/_sleep/1500' }, headers: [{ name: 'x-case', value: 'zero-backend' }] }],
        timeouts: { backendRequest: '0s' },
        backendRefs: [{ name: 'blue' }],
      },
      {
        name: 'no-request-timeout',
        matches: [{ path: { type: 'PathPrefix', value: '/_sleep/1500' }, headers: [{ name: 'x-case', value: 'zero-both' }] }],
        timeouts: { request: '0s', backendRequest: '0s' },
        backendRefs: [{ name: 'blue' }],
      },
      {
        name: 'short',
        matches: [{ path: { type: 'PathPrefix', value: '/_sleep/1500' }, headers: [{ name: 'x-case', value: 'short' }] }],
        timeouts: { backendRequest: '300ms' },
        backendRefs: [{ name: 'blue' }],
      },
    ],
  }),
];

beforeAll(async () => {
  await publish(resources());
});

describe('RE2 in workerd: regexes that backtrack forever in a JS engine answer at once', () => {
  it('path /files/([a-z0-9]+)+\\.txt with a 40-character crafted path', { timeout: 15_000 }, async () => {
    const crafted = '/files/' + 'a'.repeat(33);
    expect(crafted).toHaveLength(40);
    const { res, echo } = await get(`http://files.example.com${crafted}`);
    expect(res.status).toBe(200);
    expect(echo?.upstream).toBe('blue'); // fell through to the catch-all rule
    expect((await get('http://files.example.com/files/report2024.txt')).echo?.upstream).toBe('green');
  });

  it('header (\\w+\\s?)*$ with a 40-character crafted header', { timeout: 15_000 }, async () => {
    const crafted = 'a'.repeat(39) + '!';
    const { echo } = await get('http://files.example.com/h', { headers: { 'x-words': crafted } });
    expect(echo?.upstream).toBe('blue');
    expect((await get('http://files.example.com/h', { headers: { 'x-words': 'two words' } })).echo?.upstream).toBe('green');
  });
});

describe('matching on the normalised path (default policy: merge slashes, UnescapeRedirect)', () => {
  it('/%61dmin/x matches the /admin rule and the upstream receives /admin/x', async () => {
    const { echo } = await get('http://site.example.com/%61dmin/x?q=%61');
    expect(echo?.upstream).toBe('green');
    expect(echo?.url).toBe('/admin/x?q=%61'); // the query string is not touched
    expect((await get('http://site.example.com/admin/x')).echo?.upstream).toBe('green');
  });

  it('dot segments, merged slashes and lower-case escapes: what is matched is what is forwarded', async () => {
    for (const [path, upstream, forwarded] of [
      ['//admin//x', 'green', '/admin/x'],
      ['/public/%2E%2E/admin', 'green', '/admin'],
      ['/%41dmin', 'blue', '/Admin'],
      ['/x/%3f', 'blue', '/x/%3F'],
      ['/admin%252Fx', 'blue', '/admin%252Fx'], // double-encoded: stays one segment
    ] as const) {
      const { echo } = await get(`http://site.example.com${path}`);
      expect({ path, upstream: echo?.upstream, url: echo?.url }).toEqual({ path, upstream, url: forwarded });
    }
  });

  it('an encoded slash is unescaped and redirected (307, path-only Location with the query)', async () => {
    const { res } = await get('http://site.example.com/public%2F..%2Fadmin?x=1', { redirect: 'manual' });
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toBe('/admin?x=1');
    const backslash = await get('http://site.example.com/admin%5cx', { redirect: 'manual' });
    expect(backslash.res.status).toBe(307);
    expect(backslash.res.headers.get('location')).toBe('/admin/x');
  });

  it('rejects an encoded slash from a gRPC client (it cannot follow the redirect) with 400', async () => {
    const { res } = await get('http://site.example.com/pkg.Svc%2FMethod', {
      method: 'POST',
      headers: { 'content-type': 'application/grpc' },
    });
    expect(res.status).toBe(400);
  });

  it('rejects %00 and broken escapes with 400', async () => {
    for (const path of ['/admin%00', '/%zz', '/a%4']) {
      const { res, json } = await get(`http://site.example.com${path}`);
      expect({ path, status: res.status, error: json?.error }).toEqual({ path, status: 400, error: 'bad_request' });
    }
  });
});

describe('escaped-slash actions other than the default (serveRequest with PATH_ESCAPED_SLASHES set)', () => {
  const table = compileTable(
    toSnapshot(
      resources().map((r) => Resource.parse(r)),
      1,
      new Date().toISOString(),
    ),
  );
  const deps = (pathPolicy: PathPolicy): GatewayDeps => ({
    health: new IsolateHealth(),
    fetch: devFetch((r) => fetch(r)),
    now: () => Date.now(),
    rand: Math.random,
    log: () => {},
    debugHeaders: true,
    waitUntil: () => {},
    pathPolicy,
  });
  const call = async (path: string, policy: PathPolicy) => {
    const res = await serveRequest(new Request(`http://site.example.com${path}`, { redirect: 'manual' }), table, deps(policy));
    const body = (await res.json()) as { upstream?: string; url?: string; error?: string };
    return { status: res.status, upstream: body.upstream, url: body.url, error: body.error };
  };

  it('KeepUnchanged: %2F stays part of the segment, so /admin%2Fx is not under /admin', async () => {
    expect(await call('/admin%2fx', { escapedSlashes: 'KeepUnchanged', mergeSlashes: true })).toEqual({
      status: 200,
      upstream: 'blue',
      url: '/admin%2Fx',
      error: undefined,
    });
  });

  it('UnescapeForward: matched and forwarded unescaped', async () => {
    expect(await call('/public%2F..%2Fadmin', { escapedSlashes: 'UnescapeForward', mergeSlashes: true })).toMatchObject({
      status: 200,
      upstream: 'green',
      url: '/admin',
    });
  });

  it('RejectRequest: 400', async () => {
    expect(await call('/admin%2Fx', { escapedSlashes: 'RejectRequest', mergeSlashes: true })).toMatchObject({
      status: 400,
      error: 'bad_request',
    });
  });

  it('merging off: //admin is not /admin', async () => {
    expect(await call('//admin', { escapedSlashes: 'UnescapeRedirect', mergeSlashes: false })).toMatchObject({
      upstream: 'blue',
      url: '//admin',
    });
  });
});

describe('Gateway API conformance', () => {
  it('RequestHeaderModifier add to an existing header gives "existing,added"; ResponseHeaderModifier add too; the mirror still runs', async () => {
    const { echo, res } = await get('http://conf.example.com/add', { headers: { 'x-header-add': 'some-value', 'x-header-set': 'old' } });
    expect(echo?.headers['x-header-add']).toBe('some-value,add-appends-values');
    expect(echo?.headers['x-header-set']).toBe('set');
    // ResponseHeaderModifier add: the echo upstream sends x-upstream: blue.
    expect(res.headers.get('x-upstream')).toBe('blue,edge');
    const mirrored = await pollMirror(echo!.headers['x-request-id']!);
    expect(mirrored).toBe(true);
  });

  it('a backendRef filter add on a rewritten request appends the same way', async () => {
    const { echo } = await get('http://conf.example.com/rewrite/x', { headers: { 'x-header-add': 'client' } });
    expect(echo?.url).toBe('/new/x');
    expect(echo?.headers['x-header-add']).toBe('client,from-ref');
  });

  it('a backendRef to a Backend that does not exist: that share answers 500, the rest is served', async () => {
    const statuses = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const { res } = await get('http://conf.example.com/half');
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
    expect([...statuses.keys()].sort()).toEqual([200, 500]);
    const { res, json } = await get('http://conf.example.com/missing');
    expect(res.status).toBe(500);
    expect(json).toMatchObject({ error: 'invalid_backend' });
  });

  it('a backendRef of an unsupported kind answers 500 even when a Backend has that name', async () => {
    const { res, json } = await get('http://conf.example.com/service');
    expect(res.status).toBe(500);
    expect(json).toMatchObject({ error: 'invalid_backend' });
  });

  it('such routes are accepted by admin publish, with located warnings instead of errors', () => {
    const v = validateResources(resources());
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.value.warnings.map((w) => w.path)).toEqual([
      'resources.5.spec.rules.2.backendRefs.1.name',
      'resources.5.spec.rules.3.backendRefs.0.name',
      'resources.5.spec.rules.4.backendRefs.0.kind',
    ]);
  });

  it('timeouts.backendRequest: 0s disables the per-attempt timeout: a 1.5 s backend answers 200', { timeout: 15_000 }, async () => {
    const { res, echo } = await get('http://conf.example.com/_sleep/1500', { headers: { 'x-case': 'zero-backend' } });
    expect(res.status).toBe(200);
    expect(echo?.upstream).toBe('blue');
  });

  it('timeouts.request: 0s (with backendRequest: 0s) disables both: a 1.5 s backend answers 200', { timeout: 15_000 }, async () => {
    const { res } = await get('http://conf.example.com/_sleep/1500', { headers: { 'x-case': 'zero-both' } });
    expect(res.status).toBe(200);
  });

  it('a non-zero backendRequest still times out (the same slow backend, 300ms: 504)', { timeout: 15_000 }, async () => {
    const { res, json } = await get('http://conf.example.com/_sleep/1500', { headers: { 'x-case': 'short' } });
    expect(res.status).toBe(504);
    expect(json).toMatchObject({ error: 'upstream_timeout' });
  });
});

/** The mirror copy is sent in the background; ask the mirror upstream whether it has seen the request id. */
async function pollMirror(requestId: string): Promise<boolean> {
  const url = `http://127.0.0.1:${inject('upstreams').euw1}/_seen/${requestId}`;
  for (let i = 0; i < 50; i++) {
    const seen = ((await (await fetch(url)).json()) as { seen: boolean }).seen;
    if (seen) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
