/** Unit tests for the path helpers the indexed matcher relies on to skip regexes safely. */
import { describe, expect, it } from 'vitest';
import { pathSegment, prefixMatches, regexSegmentLiterals, segmentIs } from '../../../src/routing/path.js';
import { compileRouteRegex } from '../../../src/routing/regex.js';

describe('regexSegmentLiterals', () => {
  const cases: Array<[string, Array<[number, string]>]> = [
    [
      '/api/v[0-9]+/users/[0-9]+',
      [
        [1, 'api'],
        [3, 'users'],
      ],
    ],
    [
      '/api/users',
      [
        [1, 'api'],
        [2, 'users'],
      ],
    ],
    [
      '/api/\\d+/items/\\w*',
      [
        [1, 'api'],
        [3, 'items'],
      ],
    ],
    ['/a|/b', []],
    ['/api/?x', []],
    ['/api/+x', []],
    ['/api/{1,2}x', []],
    ['/api/.*/items', [[1, 'api']]],
    ['/[a-z/]+/items', []],
    ['/[!-9]+/items', []],
    ['/[^x]+/items', []],
    ['/\\D+/items', []],
    ['/(a|b)/items', []],
    ['/(?:v1)/items', []],
    ['/x(/y)?/items', []],
    ['api/x', []],
    ['/apiz?/x', [[2, 'x']]],
    ['/ab+/items', [[2, 'items']]],
    ['/[a-z]{2,3}/items', [[2, 'items']]],
    ['.*/items', []],
    // RE2 syntax the scanner does not model gives no pin: a quoted "/" or "|", a "]" first in a class, flags.
    ['/a/b\\Q(\\E|/c/d', []],
    ['/a/\\Q/\\E/x', []],
    ['/a/[]/]/x', []],
    ['/a/[^]/]/x', []],
    ['/api(?i)/users', []],
    ['(?i)/api/users', []],
  ];
  for (const [pattern, want] of cases) {
    it(pattern, () => {
      expect(regexSegmentLiterals(pattern)).toEqual(want);
    });
  }

  // Property: whenever a pinned literal is reported, every path the regex matches has that literal there.
  it('never pins a segment a matching path does not have', () => {
    const samples = [
      '/api/v1/users/7',
      '/api/users',
      '/API/USERS',
      '/api//users',
      '/apix/users',
      '/api/x/y/users',
      '/a/b',
      '/api/x',
      '/c/d',
      '/a///x',
      '/a/]/x',
    ];
    for (const [pattern] of cases) {
      const re = compileRouteRegex(pattern);
      for (const path of samples) {
        if (!re.testExact(path)) continue;
        for (const [pos, lit] of regexSegmentLiterals(pattern)) {
          expect(pathSegment(path, pos), `${pattern} ${path}`).toBe(lit);
          expect(segmentIs(path, pos, lit), `${pattern} ${path}`).toBe(true);
        }
      }
    }
  });
});

describe('pathSegment', () => {
  it('returns 1-based segments or null', () => {
    expect(pathSegment('/a/b/c', 1)).toBe('a');
    expect(pathSegment('/a/b/c', 3)).toBe('c');
    expect(pathSegment('/a/b/', 3)).toBe('');
    expect(pathSegment('/a', 2)).toBeNull();
    expect(pathSegment('a/b', 1)).toBeNull();
  });
});

describe('segmentIs', () => {
  it('agrees with pathSegment', () => {
    for (const path of ['/a/b/c', '/a/bc/d', '/a/b', '/a/', '/', 'a/b', '/ab/b/'])
      for (const pos of [1, 2, 3])
        for (const lit of ['a', 'b', 'bc', 'c', ''])
          expect(segmentIs(path, pos, lit), `${path} ${pos} ${lit}`).toBe(pathSegment(path, pos) === lit);
  });
});

describe('prefixMatches', () => {
  it('matches whole segments only', () => {
    expect(prefixMatches('/abc', '/abc')).toBe(true);
    expect(prefixMatches('/abc', '/abc/')).toBe(true);
    expect(prefixMatches('/abc', '/abc/d')).toBe(true);
    expect(prefixMatches('/abc', '/abcd')).toBe(false);
    expect(prefixMatches('', '/anything')).toBe(true);
  });
});
