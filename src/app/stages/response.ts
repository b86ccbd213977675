/**
 * Response decoration: the upstream's answer made ours (hop-by-hop fields out, ResponseHeaderModifiers of the rule
 * and the backendRef, the session key for a new sticky client). Degraded answers and WebSocket handshakes pass as they are.
 */
import { applyHeaderModifier, stripHopByHop } from '../../proxy/headers.js';
import type { Stage } from '../context.js';
import { issueSession } from '../session.js';

export const decorateResponse: Stage = {
  name: 'response',
  build: () => async (ctx, next) => {
    const upstream = await next(ctx);
    if (upstream !== ctx.upstream || upstream.status === 101) return upstream;
    // A fetched response's headers are immutable: one copy, then every change on it.
    const response = new Response(upstream.body, upstream);
    const headers = response.headers;
    stripHopByHop(headers);
    const { ref, session } = ctx.choice!;
    for (const m of ref.responseHeaders) applyHeaderModifier(headers, m);
    const persistence = ctx.plan!.session;
    if (session && persistence)
      issueSession(persistence.config, session, headers, ctx.url.protocol === 'https:', persistence.absoluteTimeoutS);
    return response;
  },
};
