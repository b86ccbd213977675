/** Baseline Worker for the benchmark: a Hono app that only fetch-proxies every request to the upstream. */
import { Hono } from 'hono';

interface Bindings {
  /** Upstream origin, e.g. http://127.0.0.1:8080. */
  UPSTREAM: string;
  /** "on": fetch the client's URL host with cf.resolveOverride, the way Edgeway does, so both take the same outbound path. */
  RESOLVE_OVERRIDE?: string;
}

const app = new Hono<{ Bindings: Bindings }>();

app.all('*', (c) => {
  const incoming = new URL(c.req.url);
  const upstream = new URL(c.env.UPSTREAM);
  const viaOverride = c.env.RESOLVE_OVERRIDE === 'on';
  // Keep the client's Host as production Edgeway does: connect elsewhere through resolveOverride.
  const target = viaOverride
    ? `${upstream.protocol}//${incoming.hostname}:${upstream.port}${incoming.pathname}${incoming.search}`
    : `${upstream.origin}${incoming.pathname}${incoming.search}`;
  const init = viaOverride ? ({ cf: { resolveOverride: upstream.hostname } } as RequestInit) : {};
  return fetch(new Request(target, c.req.raw), init);
});

export default app;
