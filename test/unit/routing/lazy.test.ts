/** Lazy hostname groups: building a group on its first lookup must not change any answer, whatever the order. */
import { describe, expect, it } from 'vitest';
import type { MatchRequest, RouteMatch } from '../../../src/routing.js';
import { createIndexedCompiler } from '../../../src/routing/indexed/index.js';
import { compileLinear } from '../../../src/routing/linear/index.js';
import { HTTPRoute } from '../../../src/schema/httproute.js';

const HOSTS = ['a.example.com', 'b.example.com', 'solo.example.com'];

/** Hosts with big (indexed) and small (scanned) groups, a wildcard and host-less routes. */
function table(): HTTPRoute[] {
  const routes: HTTPRoute[] = [];
  const add = (i: number, hostnames: string[] | undefined, match: Record<string, unknown>) =>
    routes.push(
      HTTPRoute.parse({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: `r${i}`, namespace: 'ns', creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString() },
        spec: { ...(hostnames ? { hostnames } : {}), rules: [{ matches: [match] }] },
      }),
    );
  let i = 0;
  for (const seg of ['x', 'y', 'z', 'x/y', 'y/z']) {
    add(i++, ['a.example.com'], { path: { type: 'PathPrefix', value: `/${seg}` } });
    add(i++, ['a.example.com'], { path: { type: 'Exact', value: `/${seg}/status` }, method: 'GET' });
    add(i++, ['a.example.com', '*.example.com'], { path: { type: 'RegularExpression', value: `/${seg}/[0-9]+` } });
  }
  add(i++, ['b.example.com'], { path: { type: 'PathPrefix', value: '/x' }, headers: [{ name: 'x-t', value: '1' }] });
  add(i++, ['b.example.com'], { path: { type: 'PathPrefix', value: '/' } });
  add(i++, ['solo.example.com'], { path: { type: 'Exact', value: '/x' } });
  add(i++, ['*.example.com'], { path: { type: 'PathPrefix', value: '/y' } });
  add(i++, undefined, { path: { type: 'PathPrefix', value: '/z' } });
  return routes;
}

function requests(): MatchRequest[] {
  const out: MatchRequest[] = [];
  for (const host of [...HOSTS, 'c.example.com', 'd.c.example.com', 'other.org'])
    for (const path of ['/', '/x', '/x/status', '/x/12', '/y', '/y/z/3', '/z', '/z/status', '/x/y', '/w'])
      for (const t of [null, '1'])
        out.push({
          host,
          path,
          method: t === null ? 'GET' : 'POST',
          headers: new Headers(t === null ? {} : { 'x-t': t }),
          query: new URLSearchParams(),
        });
  return out;
}

const key = (m: RouteMatch | null) => (m === null ? 'null' : `${m.routeKey}#${m.ruleIndex}.${m.matchIndex}@${m.matchedHostname}`);

describe.each([
  ['small groups scanned', 8],
  ['full index', 0],
])('lazy group build (%s)', (_name, smallGroup) => {
  const routes = table();
  const reqs = requests();
  // The linear reference is the oracle; the eager build must agree with it too.
  const linear = compileLinear(routes);
  const want = reqs.map((r) => key(linear.match(r)));

  it('eager build answers like the reference', () => {
    const eager = createIndexedCompiler({ smallGroup, lazyGroups: false })(routes);
    expect(reqs.map((r) => key(eager.match(r)))).toEqual(want);
  });

  it('answers like the reference, first lookups in input order', () => {
    const lazy = createIndexedCompiler({ smallGroup, lazyGroups: true })(routes);
    expect(reqs.map((r) => key(lazy.match(r)))).toEqual(want);
    expect(want.filter((k) => k !== 'null').length).toBeGreaterThan(reqs.length / 2);
  });

  it('answers like the reference, first lookups in reverse order', () => {
    const lazy = createIndexedCompiler({ smallGroup, lazyGroups: true })(routes);
    const got = [...reqs].reverse().map((r) => key(lazy.match(r)));
    expect(got.reverse()).toEqual(want);
  });

  it('returns the same RouteMatch object on later lookups (a built group replaces the pending one)', () => {
    const lazy = createIndexedCompiler({ smallGroup, lazyGroups: true })(routes);
    const first = reqs.map((r) => lazy.match(r));
    const again = reqs.map((r) => lazy.match(r));
    for (let i = 0; i < reqs.length; i++) expect(again[i]).toBe(first[i]);
  });
});

it('still rejects an invalid regex at compile time for a host nobody has asked for', () => {
  // Bypass the schema (which also checks regexes) to test the matcher's own guarantee.
  const bad = table()[0]!;
  const route = {
    ...bad,
    spec: { hostnames: ['never.example.com'], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(' } }] }] },
  } as HTTPRoute;
  expect(() => createIndexedCompiler({ lazyGroups: true })([route])).toThrow(/missing closing \)/);
  // Lookahead is valid JS but not RE2: the matcher must not fall back to a backtracking engine.
  const lookahead = {
    ...bad,
    spec: { hostnames: ['never.example.com'], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(?=a)a' } }] }] },
  } as HTTPRoute;
  expect(() => createIndexedCompiler({ lazyGroups: true })([lookahead])).toThrow(/unsupported Perl syntax/);
});
