import { describe, expect, it } from 'vitest';
import { Snapshot } from '../../../src/schema/snapshot.js';
import { compileTable } from '../../../src/table/compile.js';
import { DEFAULT_BACKEND_REQUEST_MS, DEFAULT_RETRY_CODES } from '../../../src/table/plan.js';

const backend = (name: string, urls: string[], spec: Record<string, unknown> = {}, namespace = 'default') => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Backend',
  metadata: { name, namespace },
  spec: { endpoints: urls.map((url, i) => ({ url, cluster: `c${i}` })), ...spec },
});
const route = (name: string, spec: Record<string, unknown>, namespace = 'default') => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace },
  spec,
});
const table = (resources: { backends?: unknown[]; routes: unknown[]; policies?: unknown[] }) =>
  compileTable(Snapshot.parse({ version: 7, createdAt: '2026-12-01T00:00:00Z', backends: [], policies: [], ...resources }));
const plansOf = (t: ReturnType<typeof table>, i = 0) => t.plans.forRoute(t.snapshot.routes[i]!)!;

describe('rule plans (compiled once per table version)', () => {
  it('parses durations once: timeouts, retry backoff, session absoluteTimeout', () => {
    const t = table({
      backends: [backend('b', ['http://10.0.0.1:8080'])],
      routes: [
        route('r', {
          rules: [
            {
              name: 'slow',
              backendRefs: [{ name: 'b' }],
              timeouts: { request: '2s', backendRequest: '750ms' },
              retry: { attempts: 3, backoff: '1m30s', codes: [503] },
              sessionPersistence: { type: 'Cookie', absoluteTimeout: '1h30m', cookieConfig: { lifetimeType: 'Permanent' } },
            },
            { backendRefs: [{ name: 'b' }], timeouts: { request: '5s' } },
            { backendRefs: [{ name: 'b' }] },
            { backendRefs: [{ name: 'b' }], timeouts: { request: '0s' } },
          ],
        }),
      ],
    });
    const [slow, requestOnly, none, disabled] = plansOf(t);
    expect(slow!.timeouts).toEqual({ requestMs: 2000, backendRequestMs: 750, defaultApplies: false });
    expect(slow!.retry).toEqual({ attempts: 3, codes: [503], backoffMs: 90_000 });
    expect(slow!.session?.absoluteTimeoutS).toBe(5400);
    // backendRequest defaults to request when only request is set; the gateway default applies only with neither.
    expect(requestOnly!.timeouts).toEqual({ requestMs: 5000, backendRequestMs: 5000, defaultApplies: false });
    expect(none!.timeouts).toEqual({ requestMs: 0, backendRequestMs: DEFAULT_BACKEND_REQUEST_MS, defaultApplies: true });
    expect(none!.retry).toEqual({ attempts: 1, codes: DEFAULT_RETRY_CODES, backoffMs: 25 });
    expect(none!.session).toBeUndefined();
    expect(disabled!.timeouts).toEqual({ requestMs: 0, backendRequestMs: 0, defaultApplies: false });
  });

  it('names the rule once: route key plus rule name or position', () => {
    const t = table({
      backends: [backend('b', ['http://10.0.0.1'], {}, 'shop')],
      routes: [
        route(
          'web',
          { hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'b' }] }, { name: 'api', backendRefs: [{ name: 'b' }] }] },
          'shop',
        ),
      ],
    });
    const [first, api] = plansOf(t);
    expect(first).toMatchObject({
      id: 'shop/web/rule0',
      routeKey: 'shop/web',
      ruleName: undefined,
      routeNamespace: 'shop',
      routeOwnsHost: true,
    });
    expect(api).toMatchObject({ id: 'shop/web/api', ruleName: 'api' });
    expect(first!.refs[0]!.key).toBe('shop/b');
  });

  it('resolves backendRefs to Backends with their fallback, parsed origins and failover defaults', () => {
    const t = table({
      backends: [
        backend('primary', ['https://a.example.com:8443', 'http://10.0.0.2'], {
          failover: { fallbackBackend: 'spare', panicThreshold: 20 },
        }),
        backend('spare', ['http://10.0.0.3:9000']),
        backend('self', ['http://10.0.0.4'], { failover: { fallbackBackend: 'self' } }),
      ],
      routes: [
        route('r', {
          rules: [
            {
              backendRefs: [
                { name: 'primary', weight: 3 },
                { name: 'missing', weight: 1 },
                { name: 'spare', kind: 'Service', group: '', weight: 1 },
                { name: 'self', weight: 1 },
              ],
            },
          ],
        }),
      ],
    });
    const [rule] = plansOf(t);
    const [primary, missing, service, self] = rule!.refs;
    expect(primary!.backend?.key).toBe('default/primary');
    expect(primary!.backend?.fallback?.key).toBe('default/spare');
    expect(primary!.backend?.pools.map((p) => p.key)).toEqual(['default/primary', 'default/spare']);
    expect(primary!.backend?.panicThreshold).toBe(20);
    expect(primary!.backend?.overprovisioningFactor).toBe(1.4);
    expect(primary!.backend?.origins.map((o) => [o.protocol, o.hostname, o.port, o.origin])).toEqual([
      ['https:', 'a.example.com', '8443', 'https://a.example.com:8443'],
      ['http:', '10.0.0.2', '', 'http://10.0.0.2'],
    ]);
    // One plan object per Backend: the fallback is resolved once, and the attempt loop's pools reuse it.
    expect(primary!.backend?.pools[1]).toBe(primary!.backend?.fallback);
    expect(missing!.backend).toBeUndefined();
    expect(service!.backend).toBeUndefined(); // unsupported kind: 500 invalid_backend at request time
    expect(self!.backend?.fallback).toBe(self!.backend);
    expect(self!.backend?.pools).toHaveLength(1);
    expect(rule!.refs.map((r) => r.weight)).toEqual([3, 1, 1, 1]);
    expect(rule!.locality).toBe(true);
  });

  it('gives a Backend listed twice a positional sticky id', () => {
    const t = table({
      backends: [backend('b', ['http://10.0.0.1'])],
      routes: [route('r', { rules: [{ backendRefs: [{ name: 'b' }, { name: 'c' }, { name: 'b' }] }] })],
    });
    expect(plansOf(t)[0]!.refs.map((r) => r.stickyId)).toEqual(['default/b', 'default/c', 'default/b#2']);
    expect(plansOf(t)[0]!.locality).toBe(false);
  });

  it('splits filters by kind, rule filters before the backendRef’s', () => {
    const mod = (n: string) => ({ set: [{ name: n, value: '1' }] });
    const t = table({
      backends: [backend('b', ['http://10.0.0.1']), backend('m', ['http://10.0.0.9:7000'])],
      routes: [
        route('r', {
          rules: [
            {
              filters: [
                { type: 'RequestHeaderModifier', requestHeaderModifier: mod('rule-req') },
                { type: 'ResponseHeaderModifier', responseHeaderModifier: mod('rule-res') },
                { type: 'RequestMirror', requestMirror: { backendRef: { name: 'm' }, fraction: { numerator: 1, denominator: 4 } } },
              ],
              backendRefs: [
                {
                  name: 'b',
                  filters: [
                    { type: 'RequestHeaderModifier', requestHeaderModifier: mod('ref-req') },
                    { type: 'ResponseHeaderModifier', responseHeaderModifier: mod('ref-res') },
                    { type: 'URLRewrite', urlRewrite: { hostname: 'internal.example.com' } },
                    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'nowhere' }, percent: 10 } },
                  ],
                },
              ],
            },
            {
              filters: [
                { type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } },
                { type: 'ResponseHeaderModifier', responseHeaderModifier: mod('redir') },
              ],
            },
          ],
        }),
      ],
    });
    const [proxied, redirect] = plansOf(t);
    const ref = proxied!.refs[0]!;
    expect(ref.requestHeaders.map((m) => m.set![0]!.name)).toEqual(['rule-req', 'ref-req']);
    expect(ref.responseHeaders.map((m) => m.set![0]!.name)).toEqual(['rule-res', 'ref-res']);
    expect(ref.rewrite).toEqual({ hostname: 'internal.example.com' });
    expect(ref.mirrors.map((m) => [m.share, m.backend?.key])).toEqual([
      [0.25, 'default/m'],
      [0.1, undefined],
    ]);
    expect(proxied!.redirect).toBeUndefined();
    expect(redirect!.redirect?.spec).toMatchObject({ scheme: 'https', statusCode: 301 });
    expect(redirect!.redirect?.responseHeaders.map((m) => m.set![0]!.name)).toEqual(['redir']);
    expect(redirect!.unusable).toBe('no_backend_refs');
  });

  it('says when a rule cannot forward, and attaches its rate-limit policies', () => {
    const t = table({
      backends: [backend('b', ['http://10.0.0.1'])],
      routes: [
        route('r', {
          rules: [
            { name: 'zero', backendRefs: [{ name: 'b', weight: 0 }] },
            { name: 'ok', backendRefs: [{ name: 'b' }] },
          ],
        }),
      ],
      policies: [
        {
          apiVersion: 'edgeway.dev/v1alpha1',
          kind: 'RateLimitPolicy',
          metadata: { name: 'limit' },
          spec: {
            targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r', sectionName: 'ok' }],
            limits: [{ requests: 10, window: '1s' }],
          },
        },
      ],
    });
    const [zero, ok] = plansOf(t);
    expect(zero!.unusable).toBe('all_weights_zero');
    expect(ok!.unusable).toBeUndefined();
    expect(zero!.rateLimits).toEqual([]);
    expect(ok!.rateLimits.map((p) => p.id)).toEqual(['default/limit']);
  });

  it('finds the plan of a match by route object and rule index', () => {
    const t = table({
      backends: [backend('b', ['http://10.0.0.1'])],
      routes: [
        route('r', {
          hostnames: ['x.example.com'],
          rules: [
            { matches: [{ path: { type: 'PathPrefix', value: '/a' } }], backendRefs: [{ name: 'b' }] },
            { name: 'rest', backendRefs: [{ name: 'b' }] },
          ],
        }),
      ],
    });
    const m = t.matcher.match({ host: 'x.example.com', path: '/b', method: 'GET', headers: new Headers(), query: new URLSearchParams() })!;
    expect(t.plans.forMatch(m).id).toBe('default/r/rest');
    const foreign = table({ backends: [], routes: [route('r', { rules: [{ backendRefs: [{ name: 'b' }] }] })] });
    expect(() => t.plans.forMatch({ route: foreign.snapshot.routes[0]!, ruleIndex: 0 })).toThrow(/no plan/);
  });
});
