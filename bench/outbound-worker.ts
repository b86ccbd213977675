/** Optional in-workerd stand-in for cf.resolveOverride (BENCH_OUTBOUND=worker): no Node hop, but the upstream sees the override host as Host. */
export default {
  fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const override = (request as unknown as { cf?: { resolveOverride?: string } }).cf?.resolveOverride;
    // Only loopback targets: the bench never sends traffic anywhere else.
    const target = (override ?? url.hostname).toLowerCase();
    if (target !== '127.0.0.1' && target !== 'localhost')
      return Promise.resolve(new Response(`bench outbound: ${target} refused`, { status: 599 }));
    url.hostname = target;
    return fetch(new Request(url, request));
  },
} satisfies ExportedHandler;
