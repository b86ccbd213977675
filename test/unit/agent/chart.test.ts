/** The Helm chart: templates rendered with helm-lite, committed renders up to date, every manifest valid against the
 * Kubernetes schemas (kubernetes-models), RBAC exactly what the agent watches, values documented and schema-valid. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Secret, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KEY_ID } from '../../../src/admin/signing.js';
import { WATCHED_RESOURCES } from '../../../src/agent/agent.js';
import { AgentConfigSchema, loadConfig } from '../../../src/agent/config.js';
import { mergeValues, renderChart } from '../../../charts/edgeway-agent/ci/helm-lite.js';
import { CASES, CHART_DIR, defaultValues, renderCase } from '../../../charts/edgeway-agent/ci/render.js';

type Doc = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
};

const docsOf = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
const find = (docs: Doc[], kind: string) => docs.find((d) => d.kind === kind);

describe.each(Object.keys(CASES))('chart rendered with the %s values', (name) => {
  it('matches the committed ci/rendered file (run `npx tsx charts/edgeway-agent/ci/render.ts` if not)', async () => {
    const committed = readFileSync(path.join(CHART_DIR, 'ci', 'rendered', `${name}.yaml`), 'utf8');
    expect(committed === (await renderCase(name)), `ci/rendered/${name}.yaml is stale`).toBe(true);
  });

  it('produces only manifests that validate against the Kubernetes schemas', async () => {
    const docs = docsOf(await renderCase(name));
    expect(docs.length).toBeGreaterThanOrEqual(4);
    for (const d of docs) {
      const Model = MODELS[`${d.apiVersion}/${d.kind}`];
      expect(Model, `${d.apiVersion} ${d.kind}`).toBeDefined();
      expect(() => new Model!(d as never).validate(), `${d.kind} ${d.metadata.name}`).not.toThrow();
    }
  });

  it('runs one non-root, read-only, probed, resource-bounded writer with only known settings', async () => {
    const docs = docsOf(await renderCase(name));
    const dep = find(docs, 'Deployment') as unknown as Deployment;
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

  it('grants read-only access to exactly what the agent watches', async () => {
    const values = mergeValues(defaultValues(), CASES[name]!) as { sources: { services: boolean; gatewayApi: boolean } };
    const docs = docsOf(await renderCase(name));
    const role = find(docs, 'ClusterRole') as unknown as ClusterRole;
    const granted = role.rules!.flatMap((r) => {
      expect(r.verbs.sort()).toEqual(['get', 'list', 'watch']);
      return r.apiGroups!.flatMap((g) => r.resources!.map((res) => `${g}/${res}`));
    });
    const wanted = WATCHED_RESOURCES.filter(
      (w) => !w.optional || (w.optional === 'watchServices' ? values.sources.services : values.sources.gatewayApi),
    ).map((w) => `${w.group}/${w.resource}`);
    expect(granted.sort()).toEqual(wanted.sort());
  });
});

describe('chart options', () => {
  it('uses an existing Secret instead of creating one, and drops the Lease Role without leader election', async () => {
    const docs = docsOf(await renderCase('existing-secret'));
    expect(find(docs, 'Secret')).toBeUndefined();
    expect(find(docs, 'Role')).toBeUndefined();
    const dep = find(docs, 'Deployment') as unknown as Deployment;
    const key = dep.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === 'EDGEWAY_AGENT_KEY')!;
    expect(key.valueFrom!.secretKeyRef!.name).toBe('edgeway-agent-key');
  });

  it('passes classes, the unannotated-Ingress switch and cross-namespace grants to the agent unchanged', async () => {
    for (const name of Object.keys(CASES)) {
      const values = mergeValues(defaultValues(), CASES[name]!) as Record<string, unknown>;
      const dep = find(docsOf(await renderCase(name)), 'Deployment') as unknown as Deployment;
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
    }
    // The rotation case is exercised by a CI values file.
    expect(Object.values(CASES).some((c) => (c.edge as { keyId?: string }).keyId)).toBe(true);
    // The default install grants nothing across namespaces.
    expect(defaultValues().crossNamespaceGrants).toEqual([]);
  });

  it('limits the Lease Role to its own Lease (create cannot be name-scoped)', async () => {
    const role = find(docsOf(await renderCase('default')), 'Role') as unknown as Role;
    expect(role.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['edgeway-agent'], verbs: ['get', 'update'] },
    ]);
  });

  it.each([
    [{ cluster: { name: '' } }, 'cluster.name is required'],
    [{ edge: { url: '' } }, 'edge.url is required'],
    [{ edge: { key: '', existingSecret: '' } }, 'edge.key is required'],
  ])('refuses to render without required values %o', async (over, message) => {
    const values = mergeValues(mergeValues(defaultValues(), CASES.default!), over);
    await expect(renderChart(CHART_DIR, values)).rejects.toThrow(message);
  });
});

describe('values', () => {
  it('validate against values.schema.json (defaults and every CI case), and the schema rejects typos', () => {
    const schema = JSON.parse(readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true }).compile(schema);
    expect(validate(defaultValues()), JSON.stringify(validate.errors)).toBe(true);
    for (const c of Object.values(CASES)) expect(validate(mergeValues(defaultValues(), c)), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(mergeValues(defaultValues(), { polcy: 'sync' }))).toBe(false);
    expect(validate(mergeValues(defaultValues(), { policy: 'delete-all' }))).toBe(false);
    for (const grants of [
      [{ from: ['*'], to: 'payments' }],
      [{ from: [], to: 'payments' }],
      [{ from: ['team-a'] }],
      [{ from: ['team-a'], to: 'payments', names: [] }],
      [{ from: ['team-a'], to: 'payments', kinds: ['Pod'] }],
      [{ from: ['team-a'], too: 'payments' }],
      ['team-a=payments'],
    ])
      expect(validate(mergeValues(defaultValues(), { crossNamespaceGrants: grants })), JSON.stringify(grants)).toBe(false);
    // Key ids as AGENT_KEYS allows them; audiences the agent can sign (printable ASCII, bounded).
    for (const keyId of ['k2', '2025-06', 'a.b_c-d']) expect(validate(mergeValues(defaultValues(), { edge: { keyId } })), keyId).toBe(true);
    for (const keyId of ['K2', 'k2/x', '-k2', 'k2 ', 'x'.repeat(65), 'aws-use1/k2'])
      expect(validate(mergeValues(defaultValues(), { edge: { keyId } })), keyId).toBe(false);
    // The same rule as the edge's (src/admin/signing.ts KEY_ID), so the schema cannot drift from what AGENT_KEYS accepts.
    const edgeProps = (schema as { properties: { edge: { properties: Record<string, { pattern: string }> } } }).properties.edge.properties;
    expect(edgeProps.keyId!.pattern).toBe(`^$|${KEY_ID.source}`);
    expect(validate(mergeValues(defaultValues(), { edge: { audience: 'prod eu/1' } }))).toBe(true);
    for (const audience of ['x'.repeat(129), ' prod', 'prod\n', 'prød'])
      expect(validate(mergeValues(defaultValues(), { edge: { audience } })), JSON.stringify(audience)).toBe(false);
  });

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
