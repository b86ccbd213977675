/** The dashboard bundle committed in src/ui/assets.generated.ts is what scripts/build-ui.ts builds from src/ui/client. */
import { describe, expect, it } from 'vitest';
import { readCommitted, renderUiModule } from '../../../scripts/build-ui.js';
import { APP_CSS, APP_JS, INDEX_HTML } from '../../../src/ui/assets.generated.js';
import { CONTENT_SECURITY_POLICY, uiApp } from '../../../src/ui/serve.js';

describe('dashboard assets', () => {
  it('are up to date with src/ui/client (run `npm run ui` if this fails)', async () => {
    expect((await readCommitted()) === (await renderUiModule()), 'src/ui/assets.generated.ts is stale: run `npm run ui`').toBe(true);
  }, 30_000);

  it('load nothing from elsewhere and run no inline script', () => {
    expect(INDEX_HTML).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(INDEX_HTML).not.toMatch(/\bstyle=/);
    const refs = (INDEX_HTML.match(/(?:src|href)="[^"]+"/g) ?? []).filter((r) => !r.startsWith('href="#'));
    expect(refs).toEqual(['href="data:,"', 'href="/_edgeway/ui/app.css"', 'src="/_edgeway/ui/app.js"']);
    expect(APP_JS + APP_CSS).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    // The token lives in sessionStorage only: the script never writes cookies or localStorage.
    expect(APP_JS).not.toMatch(/document\.cookie|localStorage/);
    expect(APP_JS).toContain('sessionStorage');
  });

  it('are small', () => {
    expect(INDEX_HTML.length + APP_JS.length + APP_CSS.length).toBeLessThan(64 * 1024);
  });
});

describe('GET /_edgeway/ui', () => {
  const env = { ADMIN_TOKEN: 'x'.repeat(32) };
  it.each([
    ['/', 'text/html'],
    ['/app.js', 'text/javascript'],
    ['/app.css', 'text/css'],
  ])('%s is served with CSP, nosniff, no framing and no caching of stale versions', async (p, type) => {
    const res = await uiApp.request(p, {}, env);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(new RegExp(`^${type}`));
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const again = await uiApp.request(p, { headers: { 'if-none-match': res.headers.get('etag')! } }, env);
    expect(again.status).toBe(304);
  });

  it('has a CSP without inline script or style, and refuses framing', () => {
    expect(CONTENT_SECURITY_POLICY).toMatch(/default-src 'self'/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/frame-ancestors 'none'/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-|\*/);
  });

  it('is not there off ADMIN_HOSTNAME, and serves nothing else', async () => {
    expect((await uiApp.request('http://gw.example.com/', {}, { ...env, ADMIN_HOSTNAME: 'admin.example.com' })).status).toBe(404);
    expect((await uiApp.request('http://admin.example.com/', {}, { ...env, ADMIN_HOSTNAME: 'admin.example.com' })).status).toBe(200);
    expect((await uiApp.request('/../admin', {}, env)).status).toBe(404);
    expect((await uiApp.request('/app.js', { method: 'POST' }, env)).status).toBe(404);
  });
});
