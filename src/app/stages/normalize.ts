/** Normalise and validate the request before anything reads it: target length, Host, path normalisation (Envoy's order). */
import { requestHostFromHeader } from '../../routing/hostname.js';
import { normalizePath } from '../../routing/normalize.js';
import { fail, type Stage } from '../context.js';

const MAX_TARGET_LENGTH = 8192;
const HOST_HEADER = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(:\d{1,5})?$/;

export const normalize: Stage = {
  name: 'normalize',
  // Not async: a stage that only hands on adds no promise of its own (src/app/context.ts, Handler).
  build: () => (ctx, next) => {
    const { request, url, deps } = ctx;
    if (url.pathname.length + url.search.length > MAX_TARGET_LENGTH) return Promise.resolve(fail(ctx, 'uri_too_long'));
    const hostHeader = (request.headers.get('host') ?? url.host).toLowerCase();
    if (!HOST_HEADER.test(hostHeader)) return Promise.resolve(fail(ctx, 'bad_request', 'invalid Host header'));
    ctx.host = requestHostFromHeader(hostHeader);
    // Match on the normalised path, and forward that same path (src/routing/normalize.ts).
    const normalized = normalizePath(url.pathname, deps.pathPolicy);
    if (normalized.action === 'reject') return Promise.resolve(fail(ctx, 'bad_request', normalized.reason));
    if (normalized.action === 'redirect') {
      // gRPC clients do not follow redirects: Envoy rejects these instead, and so do we.
      if ((request.headers.get('content-type') ?? '').startsWith('application/grpc'))
        return Promise.resolve(fail(ctx, 'bad_request', 'encoded slash in a gRPC path'));
      return Promise.resolve(new Response(null, { status: 307, headers: { location: `${normalized.path}${url.search}` } }));
    }
    if (normalized.path !== url.pathname) url.pathname = normalized.path;
    return next(ctx);
  },
};
