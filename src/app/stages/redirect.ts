/** RequestRedirect: answered at the edge with the rule's ResponseHeaderModifiers; the request goes no further. */
import { redirectLocation } from '../../proxy/filters.js';
import { applyHeaderModifier } from '../../proxy/headers.js';
import type { Stage } from '../context.js';

export const redirect: Stage = {
  name: 'redirect',
  build: () => (ctx, next) => {
    const redirect = ctx.plan!.redirect;
    if (!redirect) return next(ctx);
    const headers = new Headers({ location: redirectLocation(ctx.url, redirect.spec, ctx.match!.match) });
    for (const m of redirect.responseHeaders) applyHeaderModifier(headers, m);
    return Promise.resolve(new Response(null, { status: redirect.spec.statusCode, headers }));
  },
};
