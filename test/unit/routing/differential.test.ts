/** Differential test: on random seeded tables the indexed matcher must pick exactly what the linear reference picks. */
import { describe, expect, it } from 'vitest';
import { compileIndexed, createIndexedCompiler } from '../../../src/routing/indexed/index.js';
import { compileLinear } from '../../../src/routing/linear/index.js';
import { generate } from '../../support/random-table.js';

const variants = [
  ['indexed', compileIndexed],
  ['indexed, full index', createIndexedCompiler({ smallGroup: 0 })],
  ['indexed, scan groups up to 64', createIndexedCompiler({ smallGroup: 64 })],
] as const;

describe.each(variants)('%s vs linear on random tables', (_name, compileIndexedVariant) => {
  for (const seed of [1, 2, 3, 42, 2026]) {
    it(`seed ${seed}: same (route, rule, match, hostname) for every request`, () => {
      const { routes, requests } = generate(seed, 300, 3000);
      const linear = compileLinear(routes);
      const indexed = compileIndexedVariant(routes);
      expect(indexed.size).toBe(linear.size);
      const stats = { hits: 0, Exact: 0, PathPrefix: 0, RegularExpression: 0, wildcard: 0, anyHost: 0 };
      const mismatches: string[] = [];
      for (const r of requests) {
        const want = linear.match(r);
        const got = indexed.match(r);
        const fmt = (m: typeof want) =>
          m === null ? 'null' : `${routes.indexOf(m.route)}:${m.routeKey}#${m.ruleIndex}.${m.matchIndex}@${m.matchedHostname}`;
        if (fmt(want) !== fmt(got)) mismatches.push(`${r.method} ${r.host}${r.path}: linear ${fmt(want)} indexed ${fmt(got)}`);
        if (want !== null) {
          stats.hits++;
          stats[want.match.path!.type]++;
          if (want.matchedHostname.startsWith('*.')) stats.wildcard++;
          if (want.matchedHostname === '') stats.anyHost++;
        }
      }
      expect(mismatches.slice(0, 10)).toEqual([]);
      // Guard against a vacuous comparison: the tables must exercise every kind of match.
      expect(stats.hits).toBeGreaterThan(requests.length * 0.3);
      expect(stats.hits).toBeLessThan(requests.length);
      for (const k of ['Exact', 'PathPrefix', 'RegularExpression', 'wildcard', 'anyHost'] as const) expect(stats[k], k).toBeGreaterThan(10);
    });
  }
});
