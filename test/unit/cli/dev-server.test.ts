/** The dev gateway: bundles src/index.ts, seeds KV, serves through the outbound hook, and keeps the last good table. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevGateway, type DevGateway, type ReloadEvent } from '../../../src/cli/dev-server.js';
import { formatDiagnostic } from '../../../src/cli/compile.js';
import { KV_POINTER_KEY } from '../../../src/schema.js';
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
        'resource 3: unknown kind Gateway (expected HTTPRoute, Backend, RateLimitPolicy, SecurityPolicy)',
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
