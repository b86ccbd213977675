/** `validate`'s zone check: client-Host routes need endpoints inside the Worker's zones (cf.resolveOverride). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSources, formatDiagnostic } from '../../../src/cli/compile.js';
import { main } from '../../../src/cli/main.js';
import { inZone, readZones, zoneIssues } from '../../../src/cli/zones.js';
import { Resource } from '../../../src/schema/snapshot.js';

const backend = (name: string, endpoints: Record<string, unknown>[], spec: Record<string, unknown> = {}) =>
  Resource.parse({ apiVersion: 'edgeway.dev/v1alpha1', kind: 'Backend', metadata: { name }, spec: { endpoints, ...spec } });
const route = (name: string, spec: Record<string, unknown>) =>
  Resource.parse({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name }, spec });
const ep = (url: string, extra: Record<string, unknown> = {}) => ({ url, cluster: 'aws-use1', ...extra });
const ZONES = ['example.com'];
const ELB = 'https://a1b2.elb.us-east-1.amazonaws.com';

describe('inZone', () => {
  it.each([
    ['example.com', true],
    ['use1-origin.example.com', true],
    ['USE1.Example.COM.', true],
    ['notexample.com', false],
    ['example.com.evil.net', false],
    ['a1b2.elb.amazonaws.com', false],
  ])('%s -> %s', (host, expected) => {
    expect(inZone(host, ZONES)).toBe(expected);
  });
});

describe('zoneIssues', () => {
  it('warns at the endpoint url when a route keeps the client Host and the host is outside the zones, naming the fix', () => {
    const issues = zoneIssues(
      [
        backend('api', [ep(ELB), ep('https://use1-origin.example.com')]),
        route('api', { hostnames: ['api.example.com'], rules: [{ backendRefs: [{ name: 'api' }] }] }),
      ],
      ZONES,
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ index: 0, path: ['spec', 'endpoints', 0, 'url'], severity: 'warning' });
    const msg = issues[0]!.message;
    expect(msg).toContain("a1b2.elb.us-east-1.amazonaws.com is outside the Worker's zones (example.com)");
    expect(msg).toContain("route default/api keeps the client's Host");
    expect(msg).toContain('CNAME in the zone (e.g. aws-use1-origin.example.com -> a1b2.elb.us-east-1.amazonaws.com)');
    expect(msg).toContain('hostHeader');
  });

  it("says nothing when the Host is not the client's or the endpoint cannot be judged", () => {
    const cases = [
      // the endpoint names its Host
      [
        backend('b', [ep(ELB, { hostHeader: 'api.example.com' })]),
        route('r', { hostnames: ['api.example.com'], rules: [{ backendRefs: [{ name: 'b' }] }] }),
      ],
      // a rule-level URLRewrite sets the hostname
      [
        backend('b', [ep(ELB)]),
        route('r', {
          hostnames: ['api.example.com'],
          rules: [{ filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'internal.svc' } }], backendRefs: [{ name: 'b' }] }],
        }),
      ],
      // a backendRef-level URLRewrite sets the hostname
      [
        backend('b', [ep(ELB)]),
        route('r', {
          hostnames: ['api.example.com'],
          rules: [{ backendRefs: [{ name: 'b', filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'internal.svc' } }] }] }],
        }),
      ],
      // a route without hostnames sends the endpoint's own host
      [backend('b', [ep(ELB)]), route('r', { rules: [{ backendRefs: [{ name: 'b' }] }] })],
      // loopback and IP endpoints are the other checks' business
      [
        backend('b', [ep('http://127.0.0.1:9101'), ep('http://10.0.0.1:80')]),
        route('r', { hostnames: ['api.example.com'], rules: [{ backendRefs: [{ name: 'b' }] }] }),
      ],
      // a Backend no route uses
      [backend('b', [ep(ELB)])],
    ];
    for (const resources of cases) expect(zoneIssues(resources, ZONES)).toEqual([]);
  });

  it('checks the fallback Backend too, and names every route once', () => {
    const issues = zoneIssues(
      [
        backend('primary', [ep('https://p.example.com')], { failover: { fallbackBackend: 'standby' } }),
        backend('standby', [ep('https://standby.gke.example.net', { cluster: 'gcp' })]),
        route('a', {
          hostnames: ['a.example.com'],
          rules: [{ backendRefs: [{ name: 'primary' }] }, { backendRefs: [{ name: 'primary' }] }],
        }),
        route('b', { hostnames: ['b.example.com'], rules: [{ backendRefs: [{ name: 'primary' }] }] }),
      ],
      ZONES,
    );
    expect(issues.map((i) => [i.index, i.path.join('.')])).toEqual([[1, 'spec.endpoints.0.url']]);
    expect(issues[0]!.message).toContain("routes default/a, default/b keep the client's Host");
  });

  it('runs only when zones are known', () => {
    expect(
      zoneIssues([backend('b', [ep(ELB)]), route('r', { hostnames: ['x.example.com'], rules: [{ backendRefs: [{ name: 'b' }] }] })], []),
    ).toEqual([]);
  });

  it('skips documents that failed the schema (holes) without shifting indices', () => {
    const issues = zoneIssues(
      [undefined, backend('b', [ep(ELB)]), route('r', { hostnames: ['x.example.com'], rules: [{ backendRefs: [{ name: 'b' }] }] })],
      ZONES,
    );
    expect(issues.map((i) => i.index)).toEqual([1]);
  });
});

const FILE = [
  'apiVersion: edgeway.dev/v1alpha1', // 1
  'kind: Backend', // 2
  'metadata:', // 3
  '  name: api', // 4
  'spec:', // 5
  '  endpoints:', // 6
  '    - url: https://use1-origin.example.com', // 7
  '      cluster: ok', // 8
  '    - url: https://a1b2.elb.us-east-1.amazonaws.com', // 9
  '      cluster: aws-use1', // 10
  '---',
  'apiVersion: gateway.networking.k8s.io/v1',
  'kind: HTTPRoute',
  'metadata:',
  '  name: api',
  'spec:',
  '  hostnames: [api.example.com]',
  '  rules:',
  '    - backendRefs:',
  '        - name: api',
  '',
].join('\n');

describe('validate with zones', () => {
  it('locates the warning at file:line:col of the url value', () => {
    const r = compileSources([{ file: 'routes/api.yaml', text: FILE }], { zones: ZONES });
    expect(r.errors).toBe(0);
    expect(r.warnings).toBe(1);
    expect(formatDiagnostic(r.diagnostics[0]!)).toMatch(
      /^routes\/api\.yaml:9:12: warning: spec\.endpoints\[1\]\.url: a1b2\.elb\.us-east-1\.amazonaws\.com is outside the Worker's zones/,
    );
    expect(compileSources([{ file: 'routes/api.yaml', text: FILE }]).warnings).toBe(0);
  });

  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const tmp = async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'edgeway-zones-'));
    dirs.push(d);
    return d;
  };

  it('reads zone_name from wrangler.toml routes, adds --zone values, and notes routes that name no zone', async () => {
    const dir = await tmp();
    const toml = path.join(dir, 'wrangler.toml');
    await writeFile(
      toml,
      [
        'name = "edge"',
        'main = "src/index.ts"',
        'compatibility_date = "2026-10-01"',
        'routes = [',
        '  { pattern = "api.example.com/*", zone_name = "example.com" },',
        '  { pattern = "shop.example.org", custom_domain = true },',
        ']',
        '',
      ].join('\n'),
    );
    const z = await readZones(['Example.NET.', 'example.com', 'not a zone'], toml);
    expect(z.zones).toEqual(['example.net', 'example.com']);
    expect(z.notes).toEqual([
      '--zone: "not a zone" is not a zone name such as example.com; ignored',
      `${toml}: 1 route(s) name no zone_name (custom domains, zone_id, bare patterns); pass their zones with --zone to check endpoints against them`,
    ]);
    expect(await readZones([], path.join(dir, 'missing.toml'))).toEqual({ zones: [], notes: [] });
  });

  it('edgeway validate --zone warns (exit 0) and --strict fails on it', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'api.yaml');
    await writeFile(file, FILE);
    const lines: string[] = [];
    const out = { log: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
    expect(await main(['validate', '--zone', 'example.com', file], out)).toBe(0);
    expect(lines.some((l) => /:9:12: warning: spec\.endpoints\[1\]\.url: .*CNAME in the zone/.test(l))).toBe(true);
    expect(await main(['validate', '--strict', '--zone', 'example.com', file], out)).toBe(1);
    lines.length = 0;
    expect(await main(['validate', '--zone', 'amazonaws.com', '--zone', 'example.com', file], out)).toBe(0);
    expect(lines.filter((l) => l.includes('warning'))).toEqual([]);
  });
});
