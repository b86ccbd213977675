/** `edgeway validate`: every problem at once, each located at file:line:col, warnings that do not fail. */
import { describe, expect, it } from 'vitest';
import { compilePaths, compileSources, formatDiagnostic } from '../../../src/cli/compile.js';
import { main } from '../../../src/cli/main.js';

const FIX = 'test/fixtures/cli';

const capture = () => {
  const lines: string[] = [];
  return { lines, out: { log: (l: string) => lines.push(l), error: (l: string) => lines.push(l) } };
};

describe('validate', () => {
  it('accepts the good fixtures: two files, an empty document, loopback endpoints without warnings', async () => {
    const r = await compilePaths([`${FIX}/good`]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.files).toEqual([`${FIX}/good/backend.yml`, `${FIX}/good/route.yaml`]);
    expect(r.resources.map((x) => `${x.kind}/${x.metadata.name}`)).toEqual(['Backend/echo', 'HTTPRoute/echo']);
  });

  it('reports every problem in the bad fixtures at once, located at the offending node', async () => {
    const r = await compilePaths([`${FIX}/bad`]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      `${FIX}/bad/routes.yaml:8:7: spec.rules[0].matchs: unknown field "matchs"`,
      `${FIX}/bad/routes.yaml:12:19: spec.rules[0].backendRefs[0].weight: must be >= 0`,
      `${FIX}/bad/routes.yaml:13:17: warning: spec.rules[0].backendRefs[1].name: Backend default/missing is not defined (its traffic share would get 500)`,
      `${FIX}/bad/routes.yaml:16:7: spec.rules[1].timeout: unknown field "timeout"`,
      `${FIX}/bad/routes.yaml:19:7: unknown kind Service (expected HTTPRoute, Backend, RateLimitPolicy, SecurityPolicy, Rollout)`,
      `${FIX}/bad/routes.yaml:29:12: warning: spec.endpoints[0].url: endpoint http://10.1.2.3:8080 is a bare IP: production Workers cannot fetch IP addresses (error 1003); publish a hostname`,
    ]);
    expect(r.errors).toBe(4);
    expect(r.warnings).toBe(2);
    // The Backend is valid despite its warning; the route and the unknown kind are not.
    expect(r.resources.map((x) => `${x.kind}/${x.metadata.name}`)).toEqual(['Backend/shop']);
  });

  it('locates a missing required field at its parent and a missing backend at the reference', () => {
    const text = [
      'apiVersion: edgeway.dev/v1alpha1', // 1
      'kind: Backend', // 2
      'metadata:', // 3
      '  namespace: team-a', // 4
      'spec:', // 5
      '  endpoints:', // 6
      '    - url: https://ingress.example.com', // 7
      '---', // 8
      'apiVersion: gateway.networking.k8s.io/v1', // 9
      'kind: HTTPRoute', // 10
      'metadata: { name: r }', // 11
      'spec:', // 12
      '  rules:', // 13
      '    - backendRefs: [{ name: nowhere, namespace: team-b }]', // 14
      '      filters:', // 15
      '        - type: Rewrite', // 16
    ].join('\n');
    const r = compileSources([{ file: 'x.yaml', text }]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      'x.yaml:4:3: metadata.name: required (expected string)',
      'x.yaml:7:7: spec.endpoints[0].cluster: required (expected string)',
      'x.yaml:14:29: warning: spec.rules[0].backendRefs[0].name: Backend team-b/nowhere is not defined (its traffic share would get 500)',
      'x.yaml:16:17: spec.rules[0].filters[0].type: must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, RequestMirror',
    ]);
  });

  it('flags duplicates and dangling policy targets across files', () => {
    const backend = 'apiVersion: edgeway.dev/v1alpha1\nkind: Backend\nmetadata: { name: b }\nspec: {}\n';
    const policy = [
      'apiVersion: edgeway.dev/v1alpha1',
      'kind: RateLimitPolicy',
      'metadata: { name: p }',
      'spec:',
      '  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ghost }]',
      '  limits: [{ requests: 10, window: 1m }]',
    ].join('\n');
    const r = compileSources([
      { file: 'a.yaml', text: backend },
      { file: 'b.yaml', text: `${backend}---\n${policy}` },
    ]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      'b.yaml:3:19: metadata.name: duplicate Backend default/b (also document 1)',
      'b.yaml:10:75: spec.targetRefs[0].name: HTTPRoute default/ghost is not defined',
    ]);
  });

  it('locates YAML syntax errors and still checks the other documents', () => {
    // Generated here rather than kept as a fixture: prettier --check cannot parse a broken YAML file.
    const text = [
      'apiVersion: edgeway.dev/v1alpha1',
      'kind: Backend',
      'metadata:',
      '  name: broken',
      ' namespace: default',
      'spec: {}',
      '---',
      'kind: Gateway',
    ].join('\n');
    const r = compileSources([{ file: 'syntax.yaml', text }]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      'syntax.yaml:5:1: YAML syntax error: All mapping items must start at the same column',
      'syntax.yaml:8:7: unknown kind Gateway (expected HTTPRoute, Backend, RateLimitPolicy, SecurityPolicy, Rollout)',
    ]);
  });

  it('asks for a kind when a document has none', () => {
    const r = compileSources([{ file: 'k.yaml', text: 'metadata: { name: a }\n' }]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      'k.yaml:1:1: missing kind (expected HTTPRoute, Backend, RateLimitPolicy, SecurityPolicy, Rollout)',
    ]);
  });

  it('exits 1 with a summary on errors, 0 on warnings only', async () => {
    const bad = capture();
    expect(await main(['validate', `${FIX}/bad`], bad.out)).toBe(1);
    expect(bad.lines.at(-1)).toBe('4 errors, 2 warnings (1 resource in 1 file)');

    const warnOnly = capture();
    expect(await main(['validate', `${FIX}/warn`], warnOnly.out)).toBe(0);
    expect(warnOnly.lines).toEqual([
      `${FIX}/warn/ip-endpoint.yaml:8:12: warning: spec.endpoints[0].url: endpoint https://192.0.2.10:8443 is a bare IP: production Workers cannot fetch IP addresses (error 1003); publish a hostname`,
      'ok: 1 resource in 1 file, 1 warning',
    ]);

    const good = capture();
    expect(await main(['validate', `${FIX}/good/route.yaml`, `${FIX}/good/backend.yml`], good.out)).toBe(0);
    expect(good.lines).toEqual(['ok: 2 resources in 2 files']);
  });

  // Gateway API: a backendRef that does not resolve leaves the route accepted (ResolvedRefs=False) and its share
  // answers 500; validate warns at the reference, and --strict turns warnings into a failing exit for CI.
  it('warns, located, for a backendRef to a missing Backend or of an unsupported kind; --strict fails on it', async () => {
    const plain = capture();
    expect(await main(['validate', `${FIX}/unresolved`], plain.out)).toBe(0);
    expect(plain.lines).toEqual([
      `${FIX}/unresolved/routes.yaml:13:17: warning: spec.rules[0].backendRefs[1].name: Backend default/shop-canary is not defined (its traffic share would get 500)`,
      `${FIX}/unresolved/routes.yaml:19:17: warning: spec.rules[1].backendRefs[0].kind: unsupported backend /Service: only edgeway.dev/Backend (its traffic share would get 500)`,
      'ok: 2 resources in 1 file, 2 warnings',
    ]);

    const strict = capture();
    expect(await main(['validate', '--strict', `${FIX}/unresolved`], strict.out)).toBe(1);
    expect(strict.lines.slice(-2)).toEqual(['ok: 2 resources in 1 file, 2 warnings', '--strict: warnings fail the check']);

    const strictClean = capture();
    expect(await main(['validate', '--strict', `${FIX}/good`], strictClean.out)).toBe(0);
    const strictErrors = capture();
    expect(await main(['validate', '--strict', `${FIX}/bad`], strictErrors.out)).toBe(1);
  });

  it('reports a path that does not exist instead of passing silently', async () => {
    const c = capture();
    expect(await main(['validate', `${FIX}/nope`], c.out)).toBe(1);
    expect(c.lines[0]).toBe(`${FIX}/nope: cannot read (ENOENT)`);
  });
});
