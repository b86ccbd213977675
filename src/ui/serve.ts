/**
 * The dashboard's files under /_edgeway/ui: a page, a script and a stylesheet bundled into the Worker
 * (src/ui/assets.generated.ts). They hold no data: the page signs in with the operator token, keeps it in the tab's
 * sessionStorage and reads the admin API with `Authorization: Bearer`, so the files themselves need no token.
 */
import { Hono } from 'hono';
import { adminHost, type AdminBindings } from '../admin/auth.js';
import { APP_CSS, APP_JS, INDEX_HTML, UI_VERSION } from './assets.generated.js';

export const UI_BASE_PATH = '/_edgeway/ui';

/** Same-origin everything, no inline script or style, never framed; the page talks only to this origin. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const etag = `"${UI_VERSION}"`;

function file(body: string, type: string, request: Request, cache: string): Response {
  const headers = { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cache, etag };
  if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
  return new Response(request.method === 'HEAD' ? null : body, { status: 200, headers });
}

export const uiApp = new Hono<AdminBindings>();
// Answers only where the admin API does (ADMIN_HOSTNAME): elsewhere the dashboard is not there either.
uiApp.use('*', adminHost);
const page = (c: { req: { raw: Request } }) => file(INDEX_HTML, 'text/html; charset=utf-8', c.req.raw, 'no-cache');
uiApp.on(['GET', 'HEAD'], '/', page);
uiApp.on(['GET', 'HEAD'], '/index.html', page);
uiApp.on(['GET', 'HEAD'], '/app.js', (c) => file(APP_JS, 'text/javascript; charset=utf-8', c.req.raw, 'no-cache'));
uiApp.on(['GET', 'HEAD'], '/app.css', (c) => file(APP_CSS, 'text/css; charset=utf-8', c.req.raw, 'no-cache'));
uiApp.all('*', () => new Response('not found', { status: 404, headers: { ...SECURITY_HEADERS, 'content-type': 'text/plain' } }));
