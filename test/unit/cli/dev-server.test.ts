/** The dev gateway: bundles src/index.ts, seeds KV, serves through the outbound hook, and keeps the last good table. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startDevGateway, type DevGateway, type ReloadEvent } from '../../../src/cli/dev-server.js';
import { formatDiagnostic } from '../../../src/cli/compile.js';
import { localBindings } from '../../../src/cli/dev.js';
import { KV_POINTER_KEY } from '../../../src/schema/snapshot.js';
import { startEchoUpstream, type Upstream } from '../../support/upstreams.js';

const route = (hostname: string) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'echo' },
  spec: { hostnames: [hostname], rules: [{ backendRefs: [{ name: 'echo' }] }] },
});
const backend = (port: number) => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Backend',
  metadata: { name: 'echo' },
  spec: { endpoints: [{ url: `http://127.0.0.1:${port}`, cluster: 'local' }] },
});

/** node:http so the Host header is exactly what we say (fetch would use the URL's). */
const get = (port: number, host: string, p: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers: { host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });

const pointerVersion = async (gw: DevGateway) => {
  const kv = await gw.miniflare.getKVNamespace('ROUTES');
  return (JSON.parse((await kv.get(KV_POINTER_KEY)) ?? '{}') as { version?: number }).version;
};

describe('startDevGateway', () => {
  let upstream: Upstream;
  let gw: DevGateway;

  beforeAll(async () => {
    upstream = await startEchoUpstream('echo');
    gw = await startDevGateway({ resources: [route('echo.example.com'), backend(upstream.port)], port: 0 });
  }, 60_000);
  afterAll(async () => {
    await gw?.dispose();
    await upstream?.close();
  });

  it('serves on an ephemeral loopback port with the table seeded as version 1', async () => {
    expect(gw.url).toBe(`http://127.0.0.1:${gw.port}/`);
    expect(gw.port).toBeGreaterThan(0);
    expect(await pointerVersion(gw)).toBe(1);
    expect(gw.allowedHosts()).toEqual(['127.0.0.1']);
  });

  it('answers a request through the Worker to the loopback upstream', async () => {
    const res = await get(gw.port, 'echo.example.com', `/hello?port=${upstream.port}`);
    // Kept tolerant of the Worker under construction: the gateway must answer with an HTTP status.
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(600);
    if (res.status === 200) expect(JSON.parse(res.body)).toMatchObject({ upstream: 'echo' });
  });

  it('rejects a bad publish with every error and keeps serving the last good table', async () => {
    const bad = { ...backend(upstream.port), spec: { endpoints: [{ url: 'ftp://x', cluster: 'c', weight: -1 }] } };
    const result = await gw.publish([route('echo.example.com'), bad, { kind: 'Gateway' }]);
    expect(result).toEqual({
      ok: false,
      version: 1,
      errors: [
        'resource 2 spec.endpoints[0].url: scheme must be http or https',
        'resource 2 spec.endpoints[0].weight: must be >= 0',
        'resource 3: unknown kind Gateway (expected HTTPRoute, Backend, RateLimitPolicy, SecurityPolicy, Rollout)',
      ],
    });
    expect(await pointerVersion(gw)).toBe(1);
    const res = await get(gw.port, 'echo.example.com', '/after-bad-publish');
    expect(res.status).toBeLessThan(600);
  });

  it('publishes a good table as the next version, snapshot before pointer', async () => {
    const result = await gw.publish([route('echo2.example.com'), backend(upstream.port)]);
    expect(result).toEqual({ ok: true, version: 2 });
    const kv = await gw.miniflare.getKVNamespace('ROUTES');
    const snap = JSON.parse((await kv.get('snapshot:v2')) ?? '{}') as { routes: { spec: { hostnames: string[] } }[] };
    expect(snap.routes[0]!.spec.hostnames).toEqual(['echo2.example.com']);
    expect(await pointerVersion(gw)).toBe(2);
  });
});

describe('startDevGateway with a watched routes directory', () => {
  let dir: string;
  let gw: DevGateway | undefined;
  afterAll(async () => {
    await gw?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports a bad edit with located errors, keeps the version, and publishes the next good edit', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'edgeway-dev-'));
    await cp('test/fixtures/cli/good', dir, { recursive: true });
    const events: ReloadEvent[] = [];
    let notify: () => void = () => undefined;
    const next = () =>
      new Promise<ReloadEvent>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no reload within 10s')), 10_000);
        notify = () => {
          clearTimeout(timer);
          resolve(events.at(-1)!);
        };
      });
    gw = await startDevGateway({ routesDir: dir, port: 0, watch: true, onReload: (e) => (events.push(e), notify()) });
    expect(gw.version()).toBe(1);

    const file = path.join(dir, 'route.yaml');
    const good = await readFile(file, 'utf8');
    let reloaded = next();
    await writeFile(file, good.replace('    - backendRefs:', '    - backendRef:'));
    const bad = await reloaded;
    expect(bad.ok).toBe(false);
    const shown = path.relative(process.cwd(), file);
    expect(bad.result.diagnostics.map(formatDiagnostic)).toEqual([`${shown}:9:7: spec.rules[0].backendRef: unknown field "backendRef"`]);
    expect(gw.version()).toBe(1);
    expect(await pointerVersion(gw)).toBe(1);

    reloaded = next();
    await writeFile(file, good.replace('echo.example.com,', 'echo3.example.com,'));
    const fixed = await reloaded;
    expect(fixed).toMatchObject({ ok: true, changed: true, version: 2 });
    expect(await pointerVersion(gw)).toBe(2);
  }, 60_000);
});

/** A port nothing listens on right now. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = http.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

describe('startDevGateway on a known port', () => {
  let upstream: Upstream;
  let gw: DevGateway | undefined;
  afterAll(async () => {
    await gw?.dispose();
    await upstream?.close();
  });

  it('opens the port only once the table is loaded: the very first request that connects is served', async () => {
    upstream = await startEchoUpstream('ready');
    const port = await freePort();
    const starting = startDevGateway({ resources: [route('ready.example.com'), backend(upstream.port)], port }).then((g) => (gw = g));
    // Knock on the port from the moment start is called, as a client (or a health probe) racing `edgeway dev` would.
    let first: { status: number; body: string } | undefined;
    let refused = 0;
    for (let i = 0; i < 6000 && !first; i++) {
      try {
        first = await get(port, 'ready.example.com', '/first');
      } catch {
        refused++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await starting;
    expect(first, 'the gateway never answered').toBeDefined();
    expect(first!.status).toBe(200);
    expect(JSON.parse(first!.body)).toMatchObject({ upstream: 'ready' });
    // The knocking really did start before the gateway was up, so the test could have seen an early 503.
    expect(refused).toBeGreaterThan(0);
    expect(gw!.port).toBe(port);
    expect(gw!.url).toBe(`http://127.0.0.1:${port}/`);
    expect(await pointerVersion(gw!)).toBe(1);
  }, 90_000);
});

describe('startDevGateway with local secrets and the admin API', () => {
  const TOKEN = 'dev-vars-operator-token-0123456789';
  let upstream: Upstream;
  let gw: DevGateway | undefined;
  let dir: string | undefined;
  const printed: string[] = [];
  const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  afterAll(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    await gw?.dispose();
    await upstream?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ADMIN_TOKEN from .dev.vars opens the admin API; publish with If-Match and rollback move the served table; no secret is printed', async () => {
    upstream = await startEchoUpstream('admin');
    dir = await mkdtemp(path.join(os.tmpdir(), 'edgeway-devsecrets-'));
    await writeFile(path.join(dir, '.dev.vars'), `# operator token\nADMIN_TOKEN="${TOKEN}"\n`);
    // Everything the gateway, miniflare and the CLI print from here on is checked for the token.
    const spy =
      (orig: typeof process.stdout.write) =>
      (chunk: unknown, ...rest: unknown[]) => {
        printed.push(String(chunk));
        return (orig as (...a: unknown[]) => boolean)(chunk, ...rest);
      };
    process.stdout.write = spy(writes.out) as typeof process.stdout.write;
    process.stderr.write = spy(writes.err) as typeof process.stderr.write;
    // vitest routes console output around process.stdout: watch the console too (miniflare logs the Worker there).
    const consoles = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' '))),
    );
    const lines: string[] = [];
    const bindings = await localBindings([], { log: (l) => lines.push(l), error: (l) => lines.push(l) }, path.join(dir, 'wrangler.toml'));
    expect(bindings).toEqual({ ADMIN_TOKEN: TOKEN });
    gw = await startDevGateway({ resources: [route('admin.example.com'), backend(upstream.port)], port: 0, bindings });
    const base = gw.url.replace(/\/$/, '');
    const admin = (p: string, init: RequestInit = {}, token = TOKEN) =>
      fetch(`${base}/_edgeway/v1${p}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      });

    expect((await admin('/snapshot', {}, 'wrong-token-wrong-token')).status).toBe(401);
    const snap = await admin('/snapshot');
    expect(snap.status).toBe(200);
    // The route files went through the coordinator: its version is the one the gateway serves.
    expect(snap.headers.get('etag')).toBe(`"${gw.version()}"`);
    const body = (await snap.json()) as { routes: unknown[]; backends: unknown[]; policies: unknown[] };

    // Publish with If-Match: a second hostname on the route.
    const routes = structuredClone(body.routes) as { spec: { hostnames: string[] } }[];
    routes[0]!.spec.hostnames.push('admin2.example.com');
    const put = await admin('/resources', {
      method: 'PUT',
      headers: { 'if-match': snap.headers.get('etag')! },
      body: JSON.stringify({ resources: [...routes, ...body.backends, ...body.policies] }),
    });
    expect(put.status).toBe(200);
    const stale = await admin('/resources', {
      method: 'PUT',
      headers: { 'if-match': snap.headers.get('etag')! },
      body: JSON.stringify({ resources: [...routes, ...body.backends] }),
    });
    expect(stale.status).toBe(412);
    const served = async (host: string) => {
      for (let i = 0; i < 100; i++) {
        const r = await get(gw!.port, host, '/');
        if (r.status === 200) return r.status;
        await new Promise((res) => setTimeout(res, 50));
      }
      return (await get(gw!.port, host, '/')).status;
    };
    expect(await served('admin2.example.com')).toBe(200);

    // Roll back to the files' version: the new hostname is gone again.
    const rollback = await admin('/rollback', { method: 'POST', body: JSON.stringify({ version: 1 }) });
    expect(rollback.status).toBe(200);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      status = (await get(gw.port, 'admin2.example.com', '/')).status;
      if (status === 200) await new Promise((res) => setTimeout(res, 50));
    }
    expect(status).toBe(404);
    expect((await get(gw.port, 'admin.example.com', '/')).status).toBe(200);

    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    for (const c of consoles) c.mockRestore();
    expect(lines.join('\n')).not.toContain(TOKEN);
    expect(printed.join('')).not.toContain(TOKEN);
    // The check saw the Worker's own log lines: the refused call and the proxied requests.
    expect(printed.join('')).toContain('admin.auth.refused');
    expect(printed.join('')).toContain('"msg":"request"');
  }, 90_000);
});
