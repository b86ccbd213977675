/** The few Cloudflare v4 API calls `edgeway dns` makes (zones, Workers Custom Domains), bounded and token-safe: the
 * token is sent only as a Bearer header, and scrubbed from every error message. */
import { z } from 'zod';
import { normalizeHostname, type CustomDomain, type Zone } from './plan.js';
import { readStreamLimited } from '../../admin/body.js';

export const DEFAULT_BASE_URL = 'https://api.cloudflare.com/client/v4';
/** Zones are listed 50 a page (the API's maximum); past this many pages we stop rather than loop. */
export const MAX_PAGES = 100;
const PER_PAGE = 50;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 30_000;
const ACCOUNT_ID = /^[0-9a-f]{32}$/;
const TOKEN = /^[\x21-\x7e]{1,1024}$/;

export interface CloudflareConfig {
  token: string;
  accountId: string;
  baseUrl: string;
  fetch?: typeof fetch;
}

/** An API call that failed; the message never holds the token. */
export class CloudflareError extends Error {}

const Envelope = z.object({
  success: z.boolean(),
  errors: z.array(z.object({ code: z.number().optional(), message: z.string().optional() }).loose()).optional(),
  result: z.unknown(),
  result_info: z.object({ page: z.number().optional(), total_pages: z.number().optional() }).loose().nullish(),
});
const ZoneItem = z.object({ id: z.string().min(1).max(64), name: z.string().max(1024), status: z.string().max(64).optional() }).loose();
const DomainItem = z
  .object({
    id: z.string().min(1).max(64),
    hostname: z.string().max(1024),
    service: z.string().max(1024),
    environment: z.string().max(1024).optional(),
    zone_id: z.string().max(64),
    zone_name: z.string().max(1024).optional(),
  })
  .loose();

/** Checks what comes from the environment and flags before anything is sent. */
export function checkConfig(c: CloudflareConfig): void {
  if (!c.token) throw new CloudflareError('CLOUDFLARE_API_TOKEN is not set (an API token with Workers Scripts:Edit and Zone:Read)');
  if (!TOKEN.test(c.token)) throw new CloudflareError('CLOUDFLARE_API_TOKEN is not a token (printable ASCII, no spaces)');
  if (!c.accountId) throw new CloudflareError('no account id: set CLOUDFLARE_ACCOUNT_ID or pass --account-id');
  if (!ACCOUNT_ID.test(c.accountId)) throw new CloudflareError('the account id must be 32 hex characters');
  let url: URL;
  try {
    url = new URL(c.baseUrl);
  } catch {
    throw new CloudflareError('CLOUDFLARE_API_BASE_URL is not a URL');
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new CloudflareError('CLOUDFLARE_API_BASE_URL must be https (plain http only on loopback): the token would travel in clear');
}

export function cloudflareClient(config: CloudflareConfig) {
  checkConfig(config);
  const base = config.baseUrl.replace(/\/+$/, '');
  const doFetch = config.fetch ?? fetch;
  const scrub = (s: string) => s.split(config.token).join('[redacted]');
  const fail = (what: string, detail: string) => new CloudflareError(scrub(`${what}: ${detail}`.slice(0, 2000)));

  async function readBounded(res: Response, what: string): Promise<string> {
    if (!res.body) return '';
    const bytes = await readStreamLimited(res.body, MAX_BODY_BYTES);
    if (!bytes) throw fail(what, `response larger than ${MAX_BODY_BYTES} bytes`);
    return new TextDecoder().decode(bytes);
  }

  async function call(method: string, path: string, body?: unknown): Promise<z.infer<typeof Envelope>> {
    const what = `${method} ${path.replace(/\?.*$/, '')}`;
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${config.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw fail(what, `${(e as Error).message}${cause ? ` (${cause.code ?? cause.message ?? ''})` : ''}`);
    }
    const text = await readBounded(res, what);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw fail(what, `HTTP ${res.status}, not a JSON answer`);
    }
    const env = Envelope.safeParse(json);
    if (!env.success) throw fail(what, `HTTP ${res.status}, not a Cloudflare API envelope`);
    if (!env.data.success || !res.ok) {
      const errors = (env.data.errors ?? []).slice(0, 5).map((e) => `${e.code ?? '?'} ${String(e.message ?? '').slice(0, 300)}`);
      throw fail(what, `HTTP ${res.status}${errors.length ? `: ${errors.join('; ')}` : ''}`);
    }
    return env.data;
  }

  /** Every page of a list, at most MAX_PAGES, items deduplicated by id (a server repeating a page cannot loop us). */
  async function list<T extends { id: string }>(path: string, item: z.ZodType<T>): Promise<T[]> {
    const seen = new Map<string, T>();
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) throw fail(`GET ${path.replace(/\?.*$/, '')}`, `more than ${MAX_PAGES} pages; stopped`);
      const sep = path.includes('?') ? '&' : '?';
      const env = await call('GET', `${path}${sep}page=${page}&per_page=${PER_PAGE}`);
      const items = z.array(item).safeParse(env.result);
      if (!items.success) throw fail(`GET ${path.replace(/\?.*$/, '')}`, 'unexpected result shape');
      let fresh = 0;
      for (const it of items.data)
        if (!seen.has(it.id)) {
          seen.set(it.id, it);
          fresh++;
        }
      const total = env.result_info?.total_pages;
      if (!items.data.length || !fresh || total === undefined || page >= total) break;
    }
    return [...seen.values()];
  }

  const account = `/accounts/${config.accountId}`;
  return {
    async zones(): Promise<Zone[]> {
      const zones = await list(`/zones?account.id=${config.accountId}`, ZoneItem);
      return zones.flatMap((z) => {
        const name = normalizeHostname(z.name);
        return name && !name.startsWith('*.') ? [{ id: z.id, name, status: z.status ?? 'active' }] : [];
      });
    },
    async customDomains(): Promise<CustomDomain[]> {
      const domains = await list(`${account}/workers/domains`, DomainItem);
      return domains.map((d) => ({
        id: d.id,
        // A name we cannot normalize is kept as given (lower case): it matches nothing we want, and stays untouched
        // unless it is ours.
        hostname: normalizeHostname(d.hostname) ?? d.hostname.toLowerCase(),
        service: d.service,
        environment: d.environment ?? 'production',
        zoneId: d.zone_id,
        zoneName: d.zone_name,
      }));
    },
    /** Attaches `hostname` to the worker (the API's PUT is an upsert by hostname). */
    async attach(d: { hostname: string; service: string; environment: string; zoneId: string }): Promise<void> {
      await call('PUT', `${account}/workers/domains`, {
        hostname: d.hostname,
        service: d.service,
        environment: d.environment,
        zone_id: d.zoneId,
      });
    },
    async detach(id: string): Promise<void> {
      await call('DELETE', `${account}/workers/domains/${encodeURIComponent(id)}`);
    },
  };
}

export type CloudflareClient = ReturnType<typeof cloudflareClient>;
