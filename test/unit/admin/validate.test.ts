/** One strict validation pipeline: every object refuses unknown fields, and the CLI, admin API and snapshot reader agree. */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateResources as adminValidate } from '../../../src/admin/state.js';
import { compileSources, formatDiagnostic } from '../../../src/cli/compile.js';
import { toSnapshot } from '../../../src/schema/snapshot.js';
import { formatPath, validateResources, validateSnapshot } from '../../../src/schema/validate.js';

const route = (rule: Record<string, unknown>, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'r', ...metadata },
  spec: { hostnames: ['r.example.com'], rules: [{ backendRefs: [{ name: 'b' }], ...rule }], ...spec },
});
const backend = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Backend',
  metadata: { name: 'b' },
  spec: { endpoints: [{ url: 'https://b.example.com', cluster: 'c' }], ...spec },
});

// Each case puts one unknown key into an object that used to be a plain (key-dropping) z.object.
const CASES: [string, unknown, string][] = [
  ['rule (matchs)', route({ matchs: [{ path: { value: '/admin' } }] }), 'spec.rules[0].matchs'],
  ['path match', route({ matches: [{ path: { value: '/a', tpye: 'Exact' } }] }), 'spec.rules[0].matches[0].path.tpye'],
  [
    'header match',
    route({ matches: [{ headers: [{ name: 'x', value: 'y', regex: true }] }] }),
    'spec.rules[0].matches[0].headers[0].regex',
  ],
  [
    'header modifier',
    route({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { sett: [] } }] }),
    'spec.rules[0].filters[0].requestHeaderModifier.sett',
  ],
  ['timeouts', route({ timeouts: { requets: '1s' } }), 'spec.rules[0].timeouts.requets'],
  [
    'mirror fraction',
    route({
      filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'b' }, fraction: { numerator: 1, denominatr: 2 } } }],
    }),
    'spec.rules[0].filters[0].requestMirror.fraction.denominatr',
  ],
  ['parentRefs', route({}, { parentRefs: [{ name: 'gw', sectionNmae: 'https' }] }), 'spec.parentRefs[0].sectionNmae'],
  ['metadata', route({}, {}, { namespce: 'payments' }), 'metadata.namespce'],
  ['active health check', backend({ healthCheck: { active: { intervall: '5s' } } }), 'spec.healthCheck.active.intervall'],
  ['passive health check', backend({ healthCheck: { passive: { consecutiveFailure: 3 } } }), 'spec.healthCheck.passive.consecutiveFailure'],
  ['failover', backend({ failover: { fallback: 'x' } }), 'spec.failover.fallback'],
  ['clusters', backend({ clusters: { allow: [{ name: 'c' }] } }), 'spec.clusters.allow'],
  ['cluster grant', backend({ clusters: { allowed: [{ name: 'c', namespace: 'x' }] } }), 'spec.clusters.allowed[0].namespace'],
];

describe('strict objects everywhere', () => {
  it.each(CASES)('refuses an unknown key in the %s, located at the key', (_label, doc, path) => {
    const other = (doc as { kind: string }).kind === 'Backend' ? route({}) : backend();
    const v = validateResources([doc, other]);
    expect(v.resources).toEqual([]);
    expect(v.errors.map((e) => formatPath(e.path.slice(1)))).toEqual([path]);
    expect(v.errors[0]!.message).toBe(`unknown field "${v.errors[0]!.key}"`);
  });

  it('accepts the same documents without the typo (the cases are otherwise valid)', () => {
    expect(validateResources([route({}), backend()]).errors).toEqual([]);
  });
});

describe('one pipeline', () => {
  it('`matchs` is refused by the CLI, the admin API and the snapshot reader, naming the same field', () => {
    const doc = route({ matchs: [{ path: { value: '/admin' } }] });
    const text = `${stringify(doc)}---\n${stringify(backend())}`;
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('matchs:')) + 1;
    const col = lines[line - 1]!.indexOf('matchs') + 1;
    const cli = compileSources([{ file: 'r.yaml', text }]);
    expect(cli.diagnostics.map(formatDiagnostic)).toEqual([`r.yaml:${line}:${col}: spec.rules[0].matchs: unknown field "matchs"`]);

    const admin = adminValidate([doc, backend()]);
    expect(admin).toMatchObject({
      ok: false,
      status: 400,
      issues: [{ index: 0, path: 'resources.0.spec.rules.0.matchs', message: 'unknown field "matchs"' }],
    });

    const snapshot = { ...toSnapshot([], 1, new Date(0).toISOString()), routes: [doc], backends: [backend()] };
    const reader = validateSnapshot(snapshot);
    expect(reader.ok).toBe(false);
    if (!reader.ok)
      expect(reader.issues.map((i) => [formatPath(i.path), i.message])).toEqual([
        ['routes[0].spec.rules[0].matchs', 'unknown field "matchs"'],
      ]);
  });
});
