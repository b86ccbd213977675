/** The dashboard's browser tests: the demo's stand-in clusters and route files behind the dev gateway, and Chromium. */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { chromium, type BrowserContext } from 'playwright-core';
import { DEMO_SERVICES, startStandIns, type Demo } from '../../../src/cli/demo.js';
import { startDevGateway, type DevGateway } from '../../../src/cli/dev-server.js';

export const TOKEN = 'ui-test-operator-token-0123456789';
export const CHROMIUM = '/usr/bin/chromium';

/** A Rollout on the shop's storefront rule: blue (stable) to green (canary) in two held steps. */
export const ROLLOUT = {
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'shop-green', namespace: 'default' },
  spec: {
    targetRef: { name: 'shop', rule: 'storefront' },
    stableRef: { name: 'shop-blue' },
    canaryRef: { name: 'shop-green' },
    steps: [
      { weight: 10, hold: '10m' },
      { weight: 50, hold: '10m' },
    ],
    analysis: { interval: '30s', minRequests: 5, maxErrorRate: 5, threshold: 2 },
  },
};

export interface Stack {
  demo: Demo;
  gateway: DevGateway;
  base: string;
  resources: unknown[];
  dispose(): Promise<void>;
}

/** The demo (routes/*.yaml) on ephemeral ports: stand-ins at port 0, the files' ports rewritten to theirs. */
export async function startStack(): Promise<Stack> {
  const demo = await startStandIns(
    DEMO_SERVICES.map((s) => ({ ...s, port: 0 })),
    0,
  );
  try {
    const ports = new Map(DEMO_SERVICES.map((s, i) => [String(s.port), String(demo.services[i]!.state.port)]));
    const resources: unknown[] = [];
    for (const f of (await readdir('routes')).filter((n) => n.endsWith('.yaml')).sort()) {
      const text = (await readFile(path.join('routes', f), 'utf8'))
        .replace(/127\.0\.0\.1:(91\d\d)/g, (_, p: string) => `127.0.0.1:${ports.get(p) ?? p}`)
        // Probe every 2 s so a cluster taken down shows within the test's time.
        .replace(/interval: 5s/g, 'interval: 2s');
      for (const doc of parseAllDocuments(text)) if (doc.contents) resources.push(doc.toJS());
    }
    const gateway = await startDevGateway({
      resources,
      port: 0,
      bindings: { ADMIN_TOKEN: TOKEN, METRICS_BUCKET_SECONDS: '1', METRICS_FLUSH_SECONDS: '1' },
    });
    return {
      demo,
      gateway,
      base: gateway.url.replace(/\/$/, ''),
      resources,
      dispose: async () => {
        await gateway.dispose();
        await demo.dispose();
      },
    };
  } catch (e) {
    await demo.dispose();
    throw e;
  }
}

/** Debian's Chromium, headless, in a fresh profile; playwright-core never downloads a browser. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does it)`);
  const profile = await mkdtemp(path.join(os.tmpdir(), 'edgeway-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
    timeout: 30_000,
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** An admin API call from the test (not the page). */
export async function admin(base: string, p: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${TOKEN}`);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  return fetch(`${base}/_edgeway/v1${p}`, {
    ...init,
    headers,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
}
