/** Random but seeded Gateway API tables and requests: the matcher differential tests (indexed vs linear, sharded vs whole). */
import type { MatchRequest } from '../../src/routing.js';
import { HTTPRoute } from '../../src/schema/httproute.js';
import { seededRandom } from './seeded.js';

const HOSTS = ['example.com', 'a.example.com', 'b.example.com', 'x.a.example.com', 'shop.test', 'api.shop.test'];
const SOLO_HOSTS = Array.from({ length: 20 }, (_, i) => `solo${i}.example.com`);
const WILDCARDS = ['*.example.com', '*.a.example.com', '*.shop.test', '*.test'];
const SEGMENTS = ['api', 'v1', 'v2', 'users', 'items', 'a', 'ab', 'b', 'apiv1', 'static'];
const REGEXES = [
  '/api/v[0-9]+/.*',
  '/(api|static)/.*',
  '/[a-z]+',
  '/api/[a-z]+/[0-9]+',
  '/users/.*',
  '/ab?/.*',
  '.*/items',
  '/api|/static',
  '/v1/(users|items)/?',
  '/a/b',
  '/api/v[0-9]+/users/[0-9]+',
  '/api/?v1',
  '/[a-z/]+/items',
  '/a/.+/items',
  '/\\w+/items',
  '/(a|ab)/items/?',
  '/api/[0-9]{1,2}/items',
  '/ab*/v1',
];
const HEADER_NAMES = ['x-a', 'X-B', 'x-c'];
const QUERY_NAMES = ['q', 'Q', 'r'];
const STAMPS = ['2023-01-01T00:00:00Z', '2024-01-01T00:00:00Z', '2024-01-01T02:00:00+02:00'];

export function generate(seed: number, routeCount: number, requestCount: number) {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number) => rand() < p;
  const segPath = (max: number) => {
    const n = Math.floor(rand() * (max + 1));
    let p = '';
    for (let i = 0; i < n; i++) p += '/' + (chance(0.15) ? String(Math.floor(rand() * 20)) : pick(SEGMENTS));
    return p;
  };
  const values = (names: string[], regexValue: string) => {
    const out = [];
    const n = Math.floor(rand() * 3);
    for (let i = 0; i < n; i++)
      out.push(
        chance(0.25) ? { type: 'RegularExpression', name: pick(names), value: regexValue } : { name: pick(names), value: pick(['1', '2']) },
      );
    return out;
  };
  const routes: HTTPRoute[] = [];
  for (let i = 0; i < routeCount; i++) {
    const hostnames: string[] = [];
    const kind = rand();
    // A few hosts of their own, so single-entry and small hostname groups occur too.
    if (kind < 0.08) hostnames.push(pick(SOLO_HOSTS));
    else if (kind < 0.45) hostnames.push(pick(HOSTS));
    else if (kind < 0.75) hostnames.push(pick(WILDCARDS));
    else if (kind < 0.85) hostnames.push(pick(HOSTS), pick(WILDCARDS));
    // Routes without hostnames see every request; a required header keeps them from answering everything.
    const anyHost = hostnames.length === 0;
    const rules = [];
    const ruleCount = 1 + Math.floor(rand() * 3);
    for (let r = 0; r < ruleCount; r++) {
      const matches = [];
      const matchCount = chance(0.1) ? 0 : 1 + Math.floor(rand() * 2);
      for (let m = 0; m < matchCount; m++) {
        const match: Record<string, unknown> = {};
        const p = rand();
        if (p < 0.25) match.path = { type: 'Exact', value: segPath(3) || '/' };
        else if (p < 0.55) match.path = { type: 'RegularExpression', value: pick(REGEXES) };
        else if (p < 0.9) {
          const prefix = segPath(3);
          match.path = { type: 'PathPrefix', value: prefix === '' ? '/' : prefix + (chance(0.2) ? '/' : '') };
        }
        if (chance(0.3)) match.method = pick(['GET', 'POST']);
        const headers = values(HEADER_NAMES, '[12]');
        if (anyHost) headers.unshift({ name: 'x-c', value: '3' });
        if (headers.length) match.headers = headers;
        const query = values(QUERY_NAMES, '1|2');
        if (query.length) match.queryParams = query;
        matches.push(match);
      }
      rules.push(
        matchCount === 0 && !anyHost ? {} : { matches: matchCount === 0 ? [{ headers: [{ name: 'x-c', value: '3' }] }] : matches },
      );
    }
    const metadata: Record<string, unknown> = { name: `r${Math.floor(rand() * routeCount)}`, namespace: pick(['ns1', 'ns2']) };
    if (chance(0.7)) metadata.creationTimestamp = pick(STAMPS);
    routes.push(
      HTTPRoute.parse({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata,
        spec: { ...(hostnames.length || chance(0.5) ? { hostnames } : {}), rules },
      }),
    );
  }
  const requests: MatchRequest[] = [];
  for (let i = 0; i < requestCount; i++) {
    let host = chance(0.1) ? 'unknown.org' : chance(0.15) ? pick(SOLO_HOSTS) : pick(HOSTS);
    if (chance(0.3)) host = pick(['m.', 'n.', 'p.q.']) + host;
    let path = segPath(4) || (chance(0.5) ? '/' : '');
    if (chance(0.15)) path += '/';
    const headers = new Headers();
    for (const n of HEADER_NAMES) if (chance(0.5)) headers.set(n, pick(['1', '2', '3']));
    const query = new URLSearchParams();
    for (const n of QUERY_NAMES) if (chance(0.4)) query.append(n, pick(['1', '2', '3']));
    requests.push({ host, path, method: pick(['GET', 'POST', 'PUT']), headers, query });
  }
  return { routes, requests };
}
