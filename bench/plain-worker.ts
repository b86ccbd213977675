/** Smallest possible baseline: a fetch-proxy Worker without Hono, forwarding every request to the upstream. */
interface Bindings {
  /** Upstream origin, e.g. http://127.0.0.1:8080. */
  UPSTREAM: string;
}

export default {
  fetch(request: Request, env: Bindings): Promise<Response> {
    const url = new URL(request.url);
    return fetch(new Request(`${env.UPSTREAM}${url.pathname}${url.search}`, request));
  },
} satisfies ExportedHandler<Bindings>;
