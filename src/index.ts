/** Worker entry: placeholder while the gateway is assembled. */
export default {
  async fetch(request: Request): Promise<Response> {
    const u = new URL(request.url);
    const port = u.searchParams.get('port');
    const r = await fetch(`http://api.example.com:${port}/hello`, { cf: { resolveOverride: '127.0.0.1' } } as RequestInit);
    return new Response(await r.text(), { status: r.status });
  },
} satisfies ExportedHandler;
