/**
 * A read-only KV namespace for the production-like bench: workerd turns a `kvNamespace` binding's calls into HTTP
 * requests to a service (GET https://fake-host/<key>?urlencoded=true); this Worker answers them from a JSON module
 * (key -> value) written by bench/harness/prod.ts. Writes and lists are refused: the gateway only reads its table.
 */
// @ts-expect-error -- the data module exists only in the generated workerd config (bench/harness/prod.ts).
import data from './kv-data.json';

const values = data as Record<string, string>;

export default {
  fetch(request: Request): Response {
    if (request.method !== 'GET') return new Response('bench KV is read-only', { status: 405 });
    const url = new URL(request.url);
    const raw = url.pathname.slice(1);
    const key = url.searchParams.get('urlencoded')?.toLowerCase() === 'true' ? decodeURIComponent(raw) : raw;
    const value = values[key];
    return value === undefined ? new Response(null, { status: 404 }) : new Response(value);
  },
} satisfies ExportedHandler;
