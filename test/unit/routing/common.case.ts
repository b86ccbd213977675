/** The shared matcher suite (modelled on Hono's common.case.test.ts): every CompileRoutes implementation runs it. */
import { describe, expect, it } from 'vitest';
import type { CompileRoutes, MatchRequest } from '../../../src/routing.js';
import { HTTPRoute } from '../../../src/schema/httproute.js';
import { loadFixtures, toMatchRequest } from './fixtures.js';

const route = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'r' }) =>
  HTTPRoute.parse({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata, spec });

const req = (host: string, path: string, init: Partial<Omit<MatchRequest, 'host' | 'path'>> = {}): MatchRequest => ({
  host,
  path,
  method: init.method ?? 'GET',
  headers: init.headers ?? new Headers(),
  query: init.query ?? new URLSearchParams(),
});

export function runCommonCases(name: string, compile: CompileRoutes): void {
  describe(`${name}: golden precedence fixtures`, () => {
    const fixtures = loadFixtures();
    it('has fixture files', () => {
      expect(fixtures.length).toBeGreaterThanOrEqual(5);
    });
    for (const fx of fixtures) {
      describe(fx.file, () => {
        const matcher = compile(fx.routes);
        for (const r of fx.requests) {
          it(r.name, () => {
            const got = matcher.match(toMatchRequest(r));
            if (r.expect === null) {
              expect(got && { routeKey: got.routeKey, ruleIndex: got.ruleIndex }).toBeNull();
              return;
            }
            expect(got).not.toBeNull();
            expect({ routeKey: got!.routeKey, ruleIndex: got!.ruleIndex }).toEqual({
              routeKey: r.expect.routeKey,
              ruleIndex: r.expect.ruleIndex,
            });
            if (r.expect.matchIndex !== undefined) expect(got!.matchIndex).toBe(r.expect.matchIndex);
            if (r.expect.matchedHostname !== undefined) expect(got!.matchedHostname).toBe(r.expect.matchedHostname);
            // The result must be internally consistent with the route it names.
            expect(`${got!.route.metadata.namespace}/${got!.route.metadata.name}`).toBe(got!.routeKey);
            expect(got!.rule).toBe(got!.route.spec.rules[got!.ruleIndex]);
          });
        }
      });
    }
  });

  describe(`${name}: RouteMatch contents`, () => {
    const explicit = route(
      {
        hostnames: ['api.example.com', '*.example.com'],
        rules: [
          { matches: [{ path: { type: 'Exact', value: '/a' } }, { method: 'POST' }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/b' }, headers: [{ name: 'x-v', value: '1' }] }] },
        ],
      },
      { name: 'explicit', namespace: 'team' },
    );
    const bare = route({}, { name: 'bare' });
    const m = compile([explicit, bare]);

    it('returns the parsed route, rule and match objects', () => {
      const got = m.match(req('api.example.com', '/b/c', { headers: new Headers({ 'x-v': '1' }) }));
      expect(got).not.toBeNull();
      expect(got!.route).toBe(explicit);
      expect(got!.routeKey).toBe('team/explicit');
      expect(got!.ruleIndex).toBe(1);
      expect(got!.rule).toBe(explicit.spec.rules[1]);
      expect(got!.matchIndex).toBe(0);
      expect(got!.match).toBe(explicit.spec.rules[1]!.matches[0]);
      expect(got!.matchedHostname).toBe('api.example.com');
    });

    it('fills a defaulted path as PathPrefix "/" and keeps the other fields', () => {
      const got = m.match(req('x.example.com', '/zzz', { method: 'POST' }));
      expect(got?.routeKey).toBe('team/explicit');
      expect(got!.matchIndex).toBe(1);
      expect(got!.matchedHostname).toBe('*.example.com');
      expect(got!.match).toEqual({ method: 'POST', path: { type: 'PathPrefix', value: '/' } });
    });

    it('reports "" as matchedHostname for routes without hostnames', () => {
      const got = m.match(req('elsewhere.test', '/anything'));
      expect(got?.routeKey).toBe('default/bare');
      expect(got!.matchedHostname).toBe('');
      expect(got!.match.path).toEqual({ type: 'PathPrefix', value: '/' });
    });

    it('counts (route, rule, match) entries, not hostnames', () => {
      expect(m.size).toBe(3 + 1);
    });
  });

  describe(`${name}: edge cases`, () => {
    it('an empty table matches nothing', () => {
      const m = compile([]);
      expect(m.size).toBe(0);
      expect(m.match(req('a.test', '/'))).toBeNull();
    });

    it('strips a trailing dot and folds case even when the caller did not', () => {
      const m = compile([route({ hostnames: ['a.example.com'], rules: [{}] })]);
      expect(m.match(req('A.Example.COM.', '/x'))?.routeKey).toBe('default/r');
      expect(m.match(req('b.example.com', '/x'))).toBeNull();
    });

    it('treats an empty request path as "/"', () => {
      const m = compile([route({ rules: [{ matches: [{ path: { type: 'Exact', value: '/' } }] }] })]);
      expect(m.match(req('a.test', ''))?.routeKey).toBe('default/r');
    });

    it('does not match prefixes across a non-"/" boundary at any depth', () => {
      const m = compile([route({ rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/a/b' } }] }] })]);
      expect(m.match(req('h', '/a/b'))).not.toBeNull();
      expect(m.match(req('h', '/a/b/'))).not.toBeNull();
      expect(m.match(req('h', '/a/b//c'))).not.toBeNull();
      expect(m.match(req('h', '/a/bc'))).toBeNull();
      expect(m.match(req('h', '/a'))).toBeNull();
      expect(m.match(req('h', '/a//b'))).toBeNull();
    });

    it('matches paths that do not start with "/" only by regex', () => {
      const m = compile([
        route({ rules: [{}] }, { name: 'prefix' }),
        route({ rules: [{ matches: [{ path: { type: 'RegularExpression', value: '\\*' } }] }] }, { name: 'star' }),
      ]);
      expect(m.match(req('h', '*'))?.routeKey).toBe('default/star');
      expect(m.match(req('h', 'x'))).toBeNull();
    });

    it('regex paths with a literal first segment still obey full-match and precedence', () => {
      const m = compile([
        route({ rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/api/v[0-9]+/.*' } }] }] }, { name: 'a' }),
        route({ rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(api|web)/v2/items' } }] }] }, { name: 'b' }),
        route({ rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/apiz?/w1/x' } }] }] }, { name: 'c' }),
      ]);
      // "b" is the longest pattern and has no literal first segment; it must still win over "a".
      expect(m.match(req('h', '/api/v2/items'))?.routeKey).toBe('default/b');
      expect(m.match(req('h', '/web/v2/items'))?.routeKey).toBe('default/b');
      expect(m.match(req('h', '/api/v3/items'))?.routeKey).toBe('default/a');
      // Optional last literal: "/apiz?/" must not be indexed under the segment "apiz".
      expect(m.match(req('h', '/api/w1/x'))?.routeKey).toBe('default/c');
      expect(m.match(req('h', '/apiz/w1/x'))?.routeKey).toBe('default/c');
      expect(m.match(req('h', '/api'))).toBeNull();
    });

    it('returns the same frozen result object for repeated matches', () => {
      const m = compile([route({ rules: [{}] })]);
      const a = m.match(req('h', '/'));
      expect(a).not.toBeNull();
      expect(Object.isFrozen(a)).toBe(true);
      expect(m.match(req('h', '/x'))).toBe(a);
    });
  });
}
