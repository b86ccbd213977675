/** A loopback fake of the Cloudflare v4 endpoints `edgeway dns` uses, with the public API's shapes: GET /zones
 * (account.id filter, page/per_page, result_info), GET/PUT /accounts/{id}/workers/domains, DELETE
 * /accounts/{id}/workers/domains/{id}; the {success, errors, messages, result, result_info} envelope; Bearer auth. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeZone {
  id: string;
  name: string;
  status?: string;
  account: string;
}

export interface FakeDomain {
  id: string;
  hostname: string;
  service: string;
  environment: string;
  zone_id: string;
  zone_name: string;
}

export interface FakeOptions {
  token: string;
  zones: FakeZone[];
  domains?: FakeDomain[];
  /** The most items a page holds, whatever per_page asks (the real API caps zones at 50). */
  maxPerPage?: number;
  /** Paginate custom domains too (the real endpoint may answer with one page). */
  paginateDomains?: boolean;
}

export interface Fake {
  url: string;
  zones: FakeZone[];
  domains: FakeDomain[];
  /** Every request as `METHOD /path?query`. */
  log: string[];
  /** Hooks to misbehave: return true when the request was answered. */
  intercept?: (req: IncomingMessage, res: ServerResponse, body: string) => boolean;
  close(): Promise<void>;
}

export const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
export const error = (res: ServerResponse, status: number, code: number, message: string) =>
  send(res, status, { success: false, errors: [{ code, message }], messages: [], result: null });
const ok = (res: ServerResponse, result: unknown, result_info?: unknown) =>
  send(res, 200, { success: true, errors: [], messages: [], result, ...(result_info ? { result_info } : {}) });

let ids = 0;
const newId = () => (++ids).toString(16).padStart(32, 'a');

export async function startFakeCloudflare(opts: FakeOptions): Promise<Fake> {
  const fake: Fake = {
    url: '',
    zones: opts.zones,
    domains: opts.domains ?? [],
    log: [],
    close: async () => {},
  };
  const maxPerPage = opts.maxPerPage ?? 50;
  const paged = <T>(res: ServerResponse, url: URL, items: T[]) => {
    const perPage = Math.min(maxPerPage, Math.max(1, Number(url.searchParams.get('per_page') ?? 20) || 20));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    ok(res, slice, {
      page,
      per_page: perPage,
      count: slice.length,
      total_count: items.length,
      total_pages: Math.max(1, Math.ceil(items.length / perPage)),
    });
  };

  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      fake.log.push(`${req.method} ${url.pathname}${url.search}`);
      if (fake.intercept?.(req, res, body)) return;
      if (req.headers.authorization !== `Bearer ${opts.token}`) return error(res, 403, 10000, 'Authentication error');
      const path = url.pathname.replace(/^\/client\/v4/, '');
      if (req.method === 'GET' && path === '/zones') {
        const account = url.searchParams.get('account.id');
        return paged(
          res,
          url,
          fake.zones
            .filter((z) => !account || z.account === account)
            .map((z) => ({
              id: z.id,
              name: z.name,
              status: z.status ?? 'active',
              account: { id: z.account, name: 'acct' },
              paused: false,
              type: 'full',
            })),
        );
      }
      const m = /^\/accounts\/([^/]+)\/workers\/domains(?:\/([^/]+))?$/.exec(path);
      if (!m) return error(res, 404, 7003, 'Could not route to ' + path);
      const account = m[1]!;
      const inAccount = (zoneId: string) => fake.zones.find((z) => z.id === zoneId && z.account === account);
      const mine = () => fake.domains.filter((d) => inAccount(d.zone_id));
      if (req.method === 'GET' && !m[2]) {
        if (opts.paginateDomains) return paged(res, url, mine());
        return ok(res, mine());
      }
      if (req.method === 'PUT' && !m[2]) {
        let b: Record<string, unknown>;
        try {
          b = JSON.parse(body) as Record<string, unknown>;
        } catch {
          return error(res, 400, 10002, 'Invalid JSON');
        }
        const { service, environment, zone_id } = b;
        const hostname = typeof b.hostname === 'string' ? b.hostname.toLowerCase() : undefined;
        if (typeof hostname !== 'string' || typeof service !== 'string' || typeof zone_id !== 'string')
          return error(res, 400, 100100, 'hostname, service and zone_id are required');
        const zone = inAccount(zone_id);
        if (!zone) return error(res, 400, 100101, 'Zone not found');
        if (hostname.includes('*')) return error(res, 400, 100117, 'Wildcard hostnames are not supported for custom domains');
        const zoneName = zone.name.toLowerCase();
        if (hostname !== zoneName && !hostname.endsWith(`.${zoneName}`)) return error(res, 400, 100116, 'Hostname is not in the zone');
        const existing = fake.domains.find((d) => d.hostname.toLowerCase() === hostname);
        // Stricter than needed: the fake refuses to take a hostname from another worker, so a test would see it.
        if (existing && existing.service !== service) return error(res, 409, 100114, `Hostname already attached to ${existing.service}`);
        const domain: FakeDomain = {
          id: existing?.id ?? newId(),
          hostname,
          service,
          environment: typeof environment === 'string' ? environment : 'production',
          zone_id,
          zone_name: zoneName,
        };
        fake.domains = [...fake.domains.filter((d) => d.hostname.toLowerCase() !== hostname), domain];
        return ok(res, domain);
      }
      if (req.method === 'DELETE' && m[2]) {
        const d = mine().find((x) => x.id === m[2]);
        if (!d) return error(res, 404, 100102, 'Domain not found');
        fake.domains = fake.domains.filter((x) => x.id !== m[2]);
        return ok(res, null);
      }
      return error(res, 405, 10405, 'Method not allowed');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
  fake.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}
