/**
 * The dashboard in Debian's Chromium against the dev gateway running the demo: sign-in (and a refused token), every
 * view on real data, a cluster taken down turning its tiles, explain, a rollout aborted from the page, keyboard-only
 * navigation, axe-core on each view, no console errors. Screenshots of each view go to docs/ui/.
 */
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../../src/ui/serve.js';
import { ROLLOUT, TOKEN, admin, launchChromium, startStack, type Stack } from './support.js';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
const SHOTS = 'docs/ui';

let stack: Stack;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const consoleErrors: string[] = [];
/** Errors the test provoked on purpose (the refused token's 401). */
let expectedErrors = 0;

/** Publishes the demo's resources plus a Rollout through the admin API, as an operator would (starts the rollout). */
async function publishWithRollout(): Promise<void> {
  const snap = await admin(stack.base, '/snapshot');
  const etag = snap.headers.get('etag') ?? '*';
  const put = await admin(stack.base, '/resources', {
    method: 'PUT',
    headers: { 'if-match': etag },
    json: { resources: [...stack.resources, ROLLOUT] },
  });
  expect(put.status, await put.clone().text()).toBe(200);
}

/** Requests through the gateway with a Host header (node:http: fetch would send the URL's). */
async function traffic(host: string, n: number): Promise<number[]> {
  const one = () =>
    new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: stack.gateway.port, path: '/orders', headers: { host }, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await one());
  return out;
}

async function axe(name: string): Promise<void> {
  await page.evaluate(await AXE_SOURCE);
  const result = (await page.evaluate("axe.run({ resultTypes: ['violations'] })")) as {
    violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  };
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${name}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual(
    [],
  );
}

async function view(hash: string, heading: string): Promise<void> {
  await page.getByRole('link', { name: heading, exact: true }).click();
  await expect.poll(() => page.evaluate('location.hash')).toBe(`#${hash}`);
  await page.getByRole('heading', { level: 2, name: heading }).waitFor();
}

describe('dashboard in Chromium', () => {
  beforeAll(async () => {
    stack = await startStack();
    await publishWithRollout();
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await mkdir(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.dispose();
  }, 30_000);

  it('serves the page with CSP, nosniff and no framing, and nothing else under /_edgeway/ui', async () => {
    const res = await fetch(`${stack.base}/_edgeway/ui`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/https?:\/\//); // no external CDN
    const js = await fetch(`${stack.base}/_edgeway/ui/app.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${stack.base}/_edgeway/ui/secret`)).status).toBe(404);
    // The page's data needs the token: explain and the health JSON refuse without it.
    const anon = await fetch(`${stack.base}/_edgeway/v1/explain`, {
      method: 'POST',
      body: '{"host":"api.example.com"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(anon.status).toBe(401);
    expect((await fetch(`${stack.base}/_edgeway/health`)).status).toBe(401);
  });

  it('refuses a wrong token and keeps it out of storage, cookies and the URL', async () => {
    await page.goto(`${stack.base}/_edgeway/ui`);
    await page.getByLabel('Operator token').fill('not-the-operator-token-000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#signin-error').textContent()).toBe('That token was refused.');
    expectedErrors++; // Chromium logs the 401 of the check
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.getByRole('navigation', { name: 'Views' }).isVisible()).toBe(false);
    expect(page.url()).not.toContain('not-the-operator');
  });

  it('signs in with the keyboard alone and shows the overview: version, the three demo clusters, endpoint counts', async () => {
    await page.goto(`${stack.base}/_edgeway/ui`);
    await page.locator('#token').focus();
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 2, name: 'Overview' }).waitFor();
    const table = page.getByRole('table', { name: /Clusters/ });
    await table.waitFor();
    for (const c of ['aws-us-east-1', 'aws-eu-west-1', 'gcp-us-central1'])
      await expect.poll(() => table.getByRole('rowheader', { name: c }).count()).toBe(1);
    expect(await page.locator('.stat').first().textContent()).toMatch(/Table versionv\d+/);
    expect(await page.locator('.stat', { hasText: 'Healthy endpoints' }).textContent()).toMatch(/of 6/);
    expect(await page.context().cookies()).toEqual([]);
    expect(await page.evaluate(() => sessionStorage.getItem('edgeway.operatorToken'))).toBe(TOKEN);
    expect(page.url()).not.toContain(TOKEN);
    await axe('overview');
    await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });
  });

  it('moves through the views with the keyboard only', async () => {
    const focusedText = () => page.evaluate<string>("document.activeElement?.textContent?.trim() ?? ''");
    for (const target of ['Health map', 'Routes', 'Traffic and rollouts', 'Overview']) {
      await page.locator('#signout').focus(); // start from a known place in the header, then Tab / Shift+Tab only
      let found = false;
      for (let i = 0; i < 8 && !found; i++) {
        await page.keyboard.press('Shift+Tab');
        found = (await focusedText()) === target;
      }
      expect(found, `reached the "${target}" link with Shift+Tab`).toBe(true);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 2, name: target }).waitFor();
      // The view's heading takes focus, so a screen reader announces it and Tab continues inside the view.
      expect(await page.evaluate('document.activeElement?.id')).toBe('view-title');
      expect(await page.locator(`#nav a[aria-current="page"]`).textContent()).toBe(target);
    }
  });

  it('routes: search, rules with weights and policies, and explain a request', async () => {
    await view('routes', 'Routes');
    const cards = page.locator('article.route');
    const routeCount = stack.resources.filter((r) => (r as { kind: string }).kind === 'HTTPRoute').length;
    await expect.poll(() => cards.count()).toBe(routeCount);
    expect(await page.getByRole('article', { name: 'HTTPRoute default/shop' }).textContent()).toMatch(
      /default\/shop-blue 90 \(90%\).*default\/shop-green 10 \(10%\)/,
    );
    expect(await page.getByRole('article', { name: 'HTTPRoute default/api' }).textContent()).toMatch(/rate limit default\/api-per-client/);
    await page.getByLabel(/Search routes/).fill('shop-green');
    await expect.poll(() => page.locator('#route-count').textContent()).toMatch(new RegExp(`^\\d+ of ${routeCount} routes$`));
    expect(await cards.count()).toBeLessThan(routeCount);
    expect(await page.getByRole('article', { name: 'HTTPRoute default/api' }).count()).toBe(0);
    expect(await page.getByRole('article', { name: 'HTTPRoute default/shop' }).count()).toBe(1);
    await page.getByLabel(/Search routes/).fill('');

    await page.getByLabel('Host', { exact: true }).fill('api.example.com');
    await page.getByLabel('Path (and query)').fill('/orders');
    await page.getByRole('button', { name: 'Explain' }).click();
    const verdict = page.locator('#explain-verdict');
    await verdict.waitFor();
    expect(await verdict.textContent()).toMatch(/^Forwarded: default\/api\/default → default\/api → aws-us-east-1 /);
    expect(await page.locator('#explain-result ol.steps').textContent()).toMatch(/match: matched.*ratelimit: applies.*endpoint: chosen/s);
    await axe('routes');
    await page.screenshot({ path: `${SHOTS}/routes.png`, fullPage: true });
  });

  it('health map: a tile per Backend x cluster with reason and last probe on focus; a downed cluster turns', async () => {
    await view('health', 'Health map');
    const tiles = page.locator('button.tile');
    await expect.poll(() => tiles.count()).toBe(6);
    await expect.poll(() => page.locator('button.tile[data-state="healthy"]').count(), { timeout: 10_000 }).toBe(6);
    await axe('health');
    // Keyboard focus shows the tooltip with the reason and last probe.
    const first = tiles.first();
    await first.focus();
    const tip = page.locator(`#${await first.getAttribute('aria-describedby')}`);
    expect(await tip.isVisible()).toBe(true);
    expect(await tip.textContent()).toMatch(/priority \d/);
    await page.keyboard.press('Escape');
    expect(await tip.isVisible()).toBe(false);
    // The map redraws every 3 s; keyboard focus (and the dismissed tooltip) stay where they were.
    const focusedId = await page.evaluate<string>('document.activeElement.id');
    await page.waitForTimeout(3500);
    expect(await page.evaluate<string>('document.activeElement.id')).toBe(focusedId);
    expect(await tip.isVisible()).toBe(false);
    await page.keyboard.press('Shift+Tab'); // focus moves on: the next focus shows tooltips again
    await first.focus();
    expect(await tip.isVisible()).toBe(true);
    await page.screenshot({ path: `${SHOTS}/health.png`, fullPage: true });

    const down = await fetch(`http://127.0.0.1:${stack.demo.controlPort}/clusters/aws-us-east-1/down`, { method: 'POST' });
    expect(down.status).toBe(200);
    const turned = page.locator('button.tile[data-backend="default/api"]:not([data-state="healthy"])');
    const deadline = Date.now() + 15_000;
    // Requests through the gateway refresh the isolate's health and meet the refused connections.
    while (Date.now() < deadline && (await turned.count()) === 0) {
      await traffic('api.example.com', 3);
      await page.waitForTimeout(500);
    }
    expect(await turned.count()).toBeGreaterThan(0);
    expect(await turned.first().getAttribute('data-endpoint')).toBe(`http://127.0.0.1:${stack.demo.services[0]!.state.port}`);
    await turned.first().focus();
    expect(await page.locator(`#${await turned.first().getAttribute('aria-describedby')}`).textContent()).toMatch(
      /aws-us-east-1.*(active|passive)/,
    );
    await page.screenshot({ path: `${SHOTS}/health-down.png`, fullPage: true });
    // Explain now says why the nearest cluster is passed over.
    const why = (await (
      await admin(stack.base, '/explain', { method: 'POST', json: { host: 'api.example.com', path: '/orders' } })
    ).json()) as {
      backend: { endpoints: { cluster: string; usable: boolean; reasons: string[] }[] };
    };
    const east = why.backend.endpoints.find((e) => e.cluster === 'aws-us-east-1')!;
    expect(east.usable).toBe(false);
    expect(east.reasons.join(' ')).toMatch(/active|passive/);
    await fetch(`http://127.0.0.1:${stack.demo.controlPort}/clusters/aws-us-east-1/up`, { method: 'POST' });
  }, 30_000);

  it('traffic and rollouts: charts per backend, the rollout, and abort with confirmation', async () => {
    await traffic('shop.example.com', 6);
    // The metrics of those requests are flushed within a second (METRICS_FLUSH_SECONDS=1): wait for the API to count them.
    // An isolate flushes its counts on a request at least METRICS_FLUSH_SECONDS (1 s) after the last flush: keep a
    // trickle of requests going until the API counts the shop's.
    const backends = async () => {
      await traffic('shop.example.com', 1);
      const m = (await (await admin(stack.base, '/metrics?minutes=1')).json()) as { series: { backend: string }[] };
      return m.series.map((x) => x.backend);
    };
    await expect.poll(backends, { timeout: 20_000 }).toContain('default/shop-blue');
    await view('traffic', 'Traffic and rollouts');
    const card = page.locator('article.rollout[data-rollout="default/shop-green"]');
    await card.waitFor({ timeout: 10_000 });
    expect(await card.textContent()).toMatch(/default\/shop-blue \(stable\) → default\/shop-green \(canary\)/);
    // Three charts (requests, errors, latency) for each backend that took traffic.
    await page.getByRole('article', { name: 'Traffic of default/shop-blue' }).waitFor({ timeout: 10_000 });
    expect(await page.getByRole('article', { name: 'Traffic of default/shop-blue' }).locator('svg[role="img"]').count()).toBe(3);
    expect(await page.getByRole('img', { name: /^default\/api: requests per minute .* latest [1-9]/ }).count()).toBe(1);
    await axe('traffic');
    await page.screenshot({ path: `${SHOTS}/traffic.png`, fullPage: true });

    // Cancel first: nothing happens.
    await card.getByRole('button', { name: 'Abort' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(((await (await admin(stack.base, '/rollouts')).json()) as { phase: string }[])[0]!.phase).not.toBe('Aborted');
    await card.getByRole('button', { name: 'Abort' }).click();
    await dialog.getByRole('button', { name: 'Abort' }).click();
    await expect
      .poll(async () => ((await (await admin(stack.base, '/rollouts')).json()) as { phase: string }[])[0]!.phase, { timeout: 10_000 })
      .toBe('Aborted');
    await expect.poll(() => page.locator('article.rollout .badge').first().textContent(), { timeout: 10_000 }).toBe('Aborted');
  }, 30_000);

  it('logged no console errors but the refused token', () => {
    expect(consoleErrors.filter((e) => !/401/.test(e))).toEqual([]);
    expect(consoleErrors.length).toBeLessThanOrEqual(expectedErrors);
  });
});
