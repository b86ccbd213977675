/** `edgeway dns plan|apply` against a loopback fake of the Cloudflare API: the diff, idempotent apply, foreign custom
 * domains untouched, names in no zone reported, API errors without the token, hostile input bounded. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dnsCommand, workerName } from '../../../src/cli/dns.js';
import { MAX_PAGES } from '../../../src/cli/dns/cloudflare.js';
import { normalizeHostname, zoneFor } from '../../../src/cli/dns/plan.js';
import { main } from '../../../src/cli/main.js';
import { error, send, startFakeCloudflare, type Fake, type FakeDomain } from './support/fake-cloudflare.js';

const TOKEN = 'cf-test-token-0123456789abcdefSECRET';
const ACCOUNT = '0123456789abcdef0123456789abcdef';
const OTHER_ACCOUNT = 'fedcba9876543210fedcba9876543210';

const dir = mkdtempSync(path.join(tmpdir(), 'edgeway-dns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const routeDir = (name: string, hostnames: string[][]) => {
  const d = path.join(dir, name);
  rmSync(d, { recursive: true, force: true });
  const docs = hostnames.map(
    (hs, i) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r${i}
spec:
${hs.length ? `  hostnames: [${hs.map((h) => `'${h}'`).join(', ')}]\n` : ''}  rules:
    - backendRefs: [{ name: web }]
`,
  );
  const backend = `apiVersion: edgeway.dev/v1alpha1
kind: Backend
metadata:
  name: web
spec:
  endpoints:
    - { url: 'https://web.origin.example.com', cluster: aws-use1 }
`;
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, 'routes.yaml'), [...docs, backend].join('---\n'));
  return d;
};
const domain = (hostname: string, service: string, zone_id: string, zone_name: string, id: string): FakeDomain => ({
  id,
  hostname,
  service,
  environment: 'production',
  zone_id,
  zone_name,
});

/** The account: example.com, its sub-zone shop.example.com, a pending zone, and another account's zone. */
const world = () => ({
  token: TOKEN,
  maxPerPage: 2,
  zones: [
    { id: 'z-example', name: 'example.com', account: ACCOUNT },
    { id: 'z-shop', name: 'shop.example.com', account: ACCOUNT },
    { id: 'z-pending', name: 'pending.dev', status: 'pending', account: ACCOUNT },
    { id: 'z-org', name: 'EXAMPLE.ORG', account: ACCOUNT },
    { id: 'z-net', name: 'example.net', account: OTHER_ACCOUNT },
  ],
  domains: [
    domain('same.example.com', 'edgeway', 'z-example', 'example.com', 'd-same'),
    domain('SAME2.Example.com', 'edgeway', 'z-example', 'example.com', 'd-same2'),
    domain('moved.shop.example.com', 'edgeway', 'z-example', 'example.com', 'd-moved'),
    domain('old.example.com', 'edgeway', 'z-example', 'example.com', 'd-old'),
    domain('taken.example.com', 'other-worker', 'z-example', 'example.com', 'd-taken'),
    domain('unrelated.example.com', 'other-worker', 'z-example', 'example.com', 'd-unrelated'),
  ],
});

const HOSTS = [
  ['api.example.com', 'same.example.com', 'same2.example.com'],
  ['shop.example.com', '*.shop.example.com', 'moved.shop.example.com'],
  ['taken.example.com', 'app.other.io', 'www.example.net', 'x.pending.dev', 'www.example.org'],
  [],
];

let fake: Fake;
let routes: string;
beforeEach(async () => {
  fake = await startFakeCloudflare(world());
  routes = routeDir('main', HOSTS);
});
afterEach(() => fake.close());

const run = async (args: string[], env: Record<string, string | undefined> = {}) => {
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await dnsCommand(
    args,
    { log: (l) => lines.push(l), error: (l) => errors.push(l) },
    {
      CLOUDFLARE_API_TOKEN: TOKEN,
      CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
      CLOUDFLARE_API_BASE_URL: fake.url,
      ...env,
    },
  );
  return { code, lines, errors, all: [...lines, ...errors].join('\n') };
};
const writes = () => fake.log.filter((l) => !l.startsWith('GET '));
const hostsOf = (service: string) =>
  fake.domains
    .filter((d) => d.service === service)
    .map((d) => `${d.hostname.toLowerCase()}@${d.zone_id}`)
    .sort();

describe('edgeway dns plan', () => {
  it('prints the diff: create, update, delete, unchanged, foreign, no zone, wildcard, and writes nothing', async () => {
    const r = await run(['plan', '--routes', routes, '--service', 'edgeway']);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    const table = r.lines.filter((l) => /^[+~\-=!?*] /.test(l)).map((l) => l.replace(/\s+/g, ' '));
    expect(table).toEqual([
      '* wildcard *.shop.example.com Custom Domains cannot be wildcards: add a proxied DNS record *.shop.example.com and a Worker route *.shop.example.com/* in zone shop.example.com yourself (wrangler.toml routes) (default/r1)',
      '+ create api.example.com custom domain in zone example.com -> worker edgeway (default/r0)',
      '? no-zone app.other.io no zone of the account contains it: add the zone to the account or point it at the Worker yourself (default/r2)',
      '~ update moved.shop.example.com zone example.com -> shop.example.com (default/r1)',
      '- delete old.example.com custom domain of worker edgeway that no route names',
      '= unchanged same.example.com zone example.com (default/r0)',
      '= unchanged same2.example.com zone example.com (default/r0)',
      '+ create shop.example.com custom domain in zone shop.example.com -> worker edgeway (default/r1)',
      '! foreign taken.example.com attached to worker other-worker (production), not ours: not touched (default/r2)',
      '? no-zone www.example.net no zone of the account contains it: add the zone to the account or point it at the Worker yourself (default/r2)',
      '+ create www.example.org custom domain in zone example.org -> worker edgeway (default/r2)',
      '? no-zone x.pending.dev its zone pending.dev is pending, not active: add the zone to the account or point it at the Worker yourself (default/r2)',
    ]);
    expect(r.lines).toContain('plan: 3 to create, 1 to update, 1 to delete, 2 unchanged, 1 foreign, 3 in no zone, 1 wildcard');
    expect(r.lines).toContain('dry run: nothing written (`edgeway dns apply --yes` applies it)');
    expect(r.lines.some((l) => l.startsWith('note: route default/r3 lists no hostnames'))).toBe(true);
    expect(writes()).toEqual([]);
    // Pagination followed: 4 of the account's zones at 2 a page.
    expect(fake.log.filter((l) => l.startsWith('GET /client/v4/zones'))).toHaveLength(2);
    expect(fake.log).toContain(`GET /client/v4/zones?account.id=${ACCOUNT}&page=2&per_page=50`);
  });

  it('takes the worker name from wrangler.toml', () => {
    const file = path.join(dir, 'wrangler.toml');
    writeFileSync(file, 'name = "edgeway-prod"\nmain = "src/index.ts"\n[vars]\nname = "not-this"\n');
    expect(workerName(file)).toBe('edgeway-prod');
    expect(workerName(path.join(dir, 'missing.toml'))).toBeUndefined();
  });
});

describe('edgeway dns apply', () => {
  it('needs --yes: without it, nothing is written and the exit code is 1', async () => {
    const r = await run(['apply', '--routes', routes, '--service', 'edgeway']);
    expect(r.code).toBe(1);
    expect(r.errors).toEqual(['edgeway dns apply: nothing written without --yes (review the plan above)']);
    expect(writes()).toEqual([]);
  });

  it('applies the plan, leaves foreign custom domains alone, and a second apply changes nothing', async () => {
    const foreignBefore = JSON.stringify(fake.domains.filter((d) => d.service !== 'edgeway'));
    const first = await run(['apply', '--yes', '--routes', routes, '--service', 'edgeway']);
    expect(first.errors).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.lines).toContain('applied 5 changes');
    expect(writes()).toEqual([
      'PUT /client/v4/accounts/0123456789abcdef0123456789abcdef/workers/domains',
      'DELETE /client/v4/accounts/0123456789abcdef0123456789abcdef/workers/domains/d-moved',
      'PUT /client/v4/accounts/0123456789abcdef0123456789abcdef/workers/domains',
      'PUT /client/v4/accounts/0123456789abcdef0123456789abcdef/workers/domains',
      'PUT /client/v4/accounts/0123456789abcdef0123456789abcdef/workers/domains',
      'DELETE /client/v4/accounts/0123456789abcdef0123456789abcdef/workers/domains/d-old',
    ]);
    expect(hostsOf('edgeway')).toEqual([
      'api.example.com@z-example',
      'moved.shop.example.com@z-shop',
      'same.example.com@z-example',
      'same2.example.com@z-example',
      'shop.example.com@z-shop',
      'www.example.org@z-org',
    ]);
    expect(JSON.stringify(fake.domains.filter((d) => d.service !== 'edgeway'))).toBe(foreignBefore);

    fake.log.length = 0;
    const second = await run(['apply', '--yes', '--routes', routes, '--service', 'edgeway']);
    expect(second.code).toBe(0);
    expect(second.lines).toContain('no changes');
    expect(second.lines).toContain('plan: 0 to create, 0 to update, 0 to delete, 6 unchanged, 1 foreign, 3 in no zone, 1 wildcard');
    expect(writes()).toEqual([]);
  });

  it('--policy upsert-only never deletes', async () => {
    const r = await run(['apply', '--yes', '--policy', 'upsert-only', '--routes', routes, '--service', 'edgeway']);
    expect(r.code).toBe(0);
    expect(r.lines.some((l) => /^- stale\s+old\.example\.com .*kept \(--policy upsert-only\)/.test(l))).toBe(true);
    expect(writes().filter((l) => l.startsWith('DELETE') && l.endsWith('d-old'))).toEqual([]);
    expect(hostsOf('edgeway')).toContain('old.example.com@z-example');
  });

  it('a worker with no custom domains yet only creates, and never takes a hostname from another worker', async () => {
    const r = await run(['apply', '--yes', '--routes', routes, '--service', 'edgeway-staging']);
    expect(r.code).toBe(0);
    expect(r.lines.filter((l) => l.startsWith('! foreign')).map((l) => l.split(/\s+/)[2])).toEqual([
      'moved.shop.example.com',
      'same.example.com',
      'same2.example.com',
      'taken.example.com',
    ]);
    expect(hostsOf('edgeway-staging')).toEqual(['api.example.com@z-example', 'shop.example.com@z-shop', 'www.example.org@z-org']);
    expect(writes().filter((l) => l.startsWith('DELETE'))).toEqual([]);
  });

  it('reports each failed write, still applies the others, and exits 1', async () => {
    fake.intercept = (req, res, body) => {
      if (req.method === 'PUT' && body.includes('"api.example.com"')) {
        error(res, 500, 10013, 'Internal error');
        return true;
      }
      return false;
    };
    const r = await run(['apply', '--yes', '--routes', routes, '--service', 'edgeway']);
    expect(r.code).toBe(1);
    expect(r.errors).toEqual([
      'failed to create api.example.com: PUT /accounts/0123456789abcdef0123456789abcdef/workers/domains: HTTP 500: 10013 Internal error',
    ]);
    expect(r.lines).toContain('applied 4 of 5 changes; 1 failed');
    expect(hostsOf('edgeway')).toContain('shop.example.com@z-shop');
  });

  it('works through `edgeway dns` with the environment', async () => {
    vi.stubEnv('CLOUDFLARE_API_TOKEN', TOKEN);
    vi.stubEnv('CLOUDFLARE_ACCOUNT_ID', ACCOUNT);
    vi.stubEnv('CLOUDFLARE_API_BASE_URL', fake.url);
    try {
      const lines: string[] = [];
      const code = await main(['dns', 'plan', '--routes', routes, '--service', 'edgeway'], {
        log: (l) => lines.push(l),
        error: (l) => lines.push(l),
      });
      expect(code).toBe(0);
      expect(lines).toContain('plan: 3 to create, 1 to update, 1 to delete, 2 unchanged, 1 foreign, 3 in no zone, 1 wildcard');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('API errors and the token', () => {
  it('a refused token is reported, and the token appears nowhere in the output', async () => {
    const r = await run(['plan', '--routes', routes, '--service', 'edgeway'], { CLOUDFLARE_API_TOKEN: `${TOKEN}-wrong` });
    expect(r.code).toBe(1);
    expect(r.errors.some((l) => l.includes('HTTP 403: 10000 Authentication error'))).toBe(true);
    expect(r.all).not.toContain(TOKEN);
  });

  it('an API that echoes the token in its error has it scrubbed', async () => {
    fake.intercept = (req, res) => {
      error(res, 400, 1234, `bad request with header ${req.headers.authorization}`);
      return true;
    };
    const r = await run(['plan', '--routes', routes, '--service', 'edgeway']);
    expect(r.code).toBe(1);
    expect(r.all).toContain('bad request with header Bearer [redacted]');
    expect(r.all).not.toContain(TOKEN);
  });

  it('missing token, bad account id, clear-text base URL and an unreachable API are refused before or without leaking', async () => {
    expect((await run(['plan', '--routes', routes, '--service', 'edgeway'], { CLOUDFLARE_API_TOKEN: undefined })).errors).toEqual([
      'edgeway dns: CLOUDFLARE_API_TOKEN is not set (an API token with Workers Scripts:Edit and Zone:Read)',
    ]);
    expect((await run(['plan', '--routes', routes, '--service', 'edgeway', '--account-id', '../zones'])).errors).toEqual([
      'edgeway dns: the account id must be 32 hex characters',
    ]);
    const http = await run(['plan', '--routes', routes, '--service', 'edgeway'], {
      CLOUDFLARE_API_BASE_URL: 'http://api.example.com/client/v4',
    });
    expect(http.errors[0]).toContain('must be https');
    const closed = await run(['plan', '--routes', routes, '--service', 'edgeway'], {
      CLOUDFLARE_API_BASE_URL: 'http://127.0.0.1:1/client/v4',
    });
    expect(closed.code).toBe(1);
    expect(closed.errors[0]).toMatch(/^edgeway dns: GET \/(zones|accounts\/[0-9a-f]+\/workers\/domains): fetch failed/);
    for (const r of [http, closed]) expect(r.all).not.toContain(TOKEN);
    expect(fake.log).toEqual([]);
  });

  it('answers that are not the API envelope are errors, not crashes', async () => {
    fake.intercept = (req, res) => {
      send(res, 200, req.url!.startsWith('/client/v4/zones') ? { success: true, result: 'nope' } : ['not', 'an', 'envelope']);
      return true;
    };
    const r = await run(['plan', '--routes', routes, '--service', 'edgeway']);
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/unexpected result shape|not a Cloudflare API envelope/);
  });
});

describe('hostile input', () => {
  it('pagination that never ends is bounded: a repeated page stops at once, endless fresh pages at MAX_PAGES', async () => {
    fake.intercept = (req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname !== '/client/v4/zones') return false;
      send(res, 200, {
        success: true,
        errors: [],
        messages: [],
        result: [{ id: 'z-example', name: 'example.com', status: 'active' }],
        result_info: { page: 1, total_pages: 1e9 },
      });
      return true;
    };
    const repeated = await run(['plan', '--routes', routes, '--service', 'edgeway']);
    expect(repeated.code).toBe(0);
    expect(fake.log.filter((l) => l.startsWith('GET /client/v4/zones'))).toHaveLength(2);

    fake.log.length = 0;
    let n = 0;
    fake.intercept = (req, res) => {
      if (!req.url!.startsWith('/client/v4/zones')) return false;
      n++;
      send(res, 200, {
        success: true,
        errors: [],
        result: [{ id: `z${n}`, name: `z${n}.example`, status: 'active' }],
        result_info: { page: n, total_pages: n + 1 },
      });
      return true;
    };
    const endless = await run(['plan', '--routes', routes, '--service', 'edgeway']);
    expect(endless.code).toBe(1);
    expect(endless.errors).toEqual([`edgeway dns: GET /zones: more than ${MAX_PAGES} pages; stopped`]);
    expect(n).toBe(MAX_PAGES);
  });

  it('an endless response body is cut at 16 MiB: the CLI stops reading and says so, without the token', async () => {
    let written = 0;
    fake.intercept = (req, res) => {
      if (!req.url!.startsWith('/client/v4/zones')) return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      const more = () => {
        // Stops by itself well past the limit so a broken reader cannot hang the test.
        while (written < 64 * 1024 * 1024) {
          written += chunk.byteLength;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
      return true;
    };
    const r = await run(['plan', '--routes', routes, '--service', 'edgeway']);
    expect(r.code).toBe(1);
    expect(r.errors).toEqual(['edgeway dns: GET /zones: response larger than 16777216 bytes']);
    // The reader stopped soon after the limit: the server's writes stalled well before the 64 MiB it would send.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('normalizes IDN, upper case and trailing dots, and refuses huge or malformed names quickly', async () => {
    expect(normalizeHostname('Bücher.Example.COM.')).toBe('xn--bcher-kva.example.com');
    expect(normalizeHostname('*.Shop.Example.com')).toBe('*.shop.example.com');
    for (const bad of [
      'a'.repeat(64) + '.com',
      `${'a.'.repeat(127)}com`,
      'x'.repeat(1_000_000),
      'exa mple.com',
      '1.2.3.4',
      'a..b',
      'localhost',
      'a.com:443',
      '*.*.a.com',
      '',
    ])
      expect(normalizeHostname(bad), bad.slice(0, 20)).toBeUndefined();
    expect(normalizeHostname(`${'a.'.repeat(125)}com`)).toBeDefined(); // 253 characters

    const r = await run(['apply', '--yes', '--routes', routes, '--service', 'edgeway', '--hostname', 'Bücher.Example.COM.']);
    expect(r.code).toBe(0);
    expect(r.lines.some((l) => /^\+ create\s+xn--bcher-kva\.example\.com .*\(--hostname\)$/.test(l))).toBe(true);
    expect(hostsOf('edgeway')).toContain('xn--bcher-kva.example.com@z-example');

    const huge = await run(['plan', '--routes', routes, '--service', 'edgeway', '--hostname', `${'a'.repeat(100_000)}.com`]);
    expect(huge.code).toBe(1);
    expect(huge.errors[0]!.length).toBeLessThan(200);
  });

  it('a custom domain the API lists with a name we cannot parse matches nothing and, being foreign, is kept', async () => {
    fake.domains.push(domain(`${'b'.repeat(300)}.example.com`, 'other-worker', 'z-example', 'example.com', 'd-huge'));
    const r = await run(['apply', '--yes', '--routes', routes, '--service', 'edgeway']);
    expect(r.code).toBe(0);
    expect(fake.domains.some((d) => d.id === 'd-huge')).toBe(true);
  });

  it('picks the longest zone suffix at a label boundary', () => {
    const zones = [
      { id: '1', name: 'example.com', status: 'active' },
      { id: '2', name: 'shop.example.com', status: 'active' },
      { id: '3', name: 'op.example.com', status: 'active' },
    ];
    expect(zoneFor('a.shop.example.com', zones)?.id).toBe('2');
    expect(zoneFor('shop.example.com', zones)?.id).toBe('2');
    expect(zoneFor('xshop.example.com', zones)?.id).toBe('1');
    expect(zoneFor('*.shop.example.com', zones)?.id).toBe('2');
    expect(zoneFor('example.com.evil.net', zones)).toBeUndefined();
  });

  it('route files with errors plan nothing and call no API', async () => {
    const bad = path.join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(
      path.join(bad, 'r.yaml'),
      'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  hostnames: [UPPER.example.com]\n',
    );
    const r = await run(['plan', '--routes', bad, '--service', 'edgeway']);
    expect(r.code).toBe(1);
    expect(r.errors.at(-1)).toContain('the route files have errors');
    expect(fake.log).toEqual([]);
  });
});
