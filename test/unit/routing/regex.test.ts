/** RE2 route regexes: full-match semantics, linear time on inputs that make a backtracking engine hang, located errors. */
import { describe, expect, it } from 'vitest';
import { compileSources, formatDiagnostic } from '../../../src/cli/compile.js';
import { compileIndexed } from '../../../src/routing/indexed/index.js';
import { compileLinear } from '../../../src/routing/linear/index.js';
import { compileRouteRegex, routeRegexError } from '../../../src/routing/regex.js';
import { HTTPRoute } from '../../../src/schema/httproute.js';

const route = (spec: Record<string, unknown>, name = 'r') =>
  HTTPRoute.parse({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name }, spec });

const req = (path: string, headers: Record<string, string> = {}, query = '') => ({
  host: 'files.example.com',
  path,
  method: 'GET',
  headers: new Headers(headers),
  query: new URLSearchParams(query),
});

describe('RE2 semantics', () => {
  it('is a full match of the whole value, top-level alternation included', () => {
    const re = compileRouteRegex('/a|/b');
    expect(re.testExact('/a')).toBe(true);
    expect(re.testExact('/b')).toBe(true);
    expect(re.testExact('/ab')).toBe(false);
    expect(re.testExact('x/a')).toBe(false);
    expect(compileRouteRegex('a|ab').testExact('ab')).toBe(true);
    expect(compileRouteRegex('/v[0-9]+').testExact('/v12/')).toBe(false);
  });

  it('accepts RE2-only syntax (named groups, flags, POSIX classes, \\Q..\\E)', () => {
    for (const p of ['/(?P<id>[0-9]+)', '(?i)/API/.*', '/[[:alpha:]]+', '/\\Q*.txt\\E']) expect(routeRegexError(p), p).toBeNull();
    expect(compileRouteRegex('(?i)/API/.*').testExact('/api/x')).toBe(true);
    expect(compileRouteRegex('/\\Q*.txt\\E').testExact('/*.txt')).toBe(true);
    expect(compileRouteRegex('/\\Q*.txt\\E').testExact('/a.txt')).toBe(false);
  });

  it('names what RE2 cannot compile: backreferences, lookaround, possessive quantifiers, huge repeats', () => {
    expect(routeRegexError('(a)\\1')).toMatch(/invalid escape sequence/);
    expect(routeRegexError('/(?=admin).*')).toMatch(/unsupported Perl syntax/);
    expect(routeRegexError('/(?!admin).*')).toMatch(/unsupported Perl syntax/);
    expect(routeRegexError('/(?<=a)b')).not.toBeNull();
    expect(routeRegexError('a++')).toMatch(/nested repetition/);
    expect(routeRegexError('a{1001}')).toMatch(/repeat count/);
    expect(routeRegexError('[')).toMatch(/missing closing \]/);
  });
});

// Each of these takes a backtracking engine (JS RegExp) tens of seconds or more; RE2 answers in well under a
// millisecond. No timed assertion (timings live in `npm run bench`): the generous timeout is what fails if the
// engine ever backtracks again.
describe('catastrophic patterns finish on crafted input', () => {
  const routes = [
    route(
      {
        hostnames: ['files.example.com'],
        rules: [
          { matches: [{ path: { type: 'RegularExpression', value: '/files/([a-z0-9]+)+\\.txt' } }] },
          {
            matches: [
              {
                path: { type: 'PathPrefix', value: '/h' },
                headers: [{ type: 'RegularExpression', name: 'x-words', value: '(\\w+\\s?)*$' }],
              },
            ],
          },
          {
            matches: [
              { path: { type: 'PathPrefix', value: '/q' }, queryParams: [{ type: 'RegularExpression', name: 'q', value: '(a|aa)+b' }] },
            ],
          },
        ],
      },
      'files',
    ),
  ];
  const crafted = '/files/' + 'a'.repeat(33); // 40 characters, no ".txt": every split of the a's is tried
  const header = 'a'.repeat(39) + '!'; // 40 characters
  for (const [name, compile] of [
    ['indexed', compileIndexed],
    ['linear', compileLinear],
  ] as const) {
    it(`${name}: path /files/([a-z0-9]+)+\\.txt against a 40-character crafted path`, { timeout: 10_000 }, () => {
      const m = compile(routes);
      expect(crafted).toHaveLength(40);
      expect(m.match(req(crafted))).toBeNull();
      expect(m.match(req('/files/' + 'a'.repeat(73)))).toBeNull(); // 80 characters: 2^40 times worse when backtracking
      expect(m.match(req('/files/' + 'a'.repeat(33) + '.txt'))?.ruleIndex).toBe(0);
    });

    it(`${name}: header (\\w+\\s?)*$ against a 40-character crafted header`, { timeout: 10_000 }, () => {
      const m = compile(routes);
      expect(header).toHaveLength(40);
      expect(m.match(req('/h', { 'x-words': header }))).toBeNull();
      expect(m.match(req('/h', { 'x-words': 'two words' }))?.ruleIndex).toBe(1);
    });

    it(`${name}: query (a|aa)+b against a crafted value, and a 100 kB one`, { timeout: 10_000 }, () => {
      const m = compile(routes);
      expect(m.match(req('/q', {}, `q=${'a'.repeat(60)}`))).toBeNull();
      expect(m.match(req('/q', {}, `q=${'a'.repeat(100_000)}`))).toBeNull();
      expect(m.match(req('/q', {}, 'q=aaab'))?.ruleIndex).toBe(2);
    });
  }
});

describe('validation reports patterns RE2 cannot compile, located', () => {
  it('path, header and query regexes, each at its value', () => {
    const text = [
      'apiVersion: gateway.networking.k8s.io/v1', // 1
      'kind: HTTPRoute', // 2
      'metadata: { name: r }', // 3
      'spec:', // 4
      '  rules:', // 5
      '    - matches:', // 6
      '        - path: { type: RegularExpression, value: "/(?!admin).*" }', // 7
      '          headers:', // 8
      '            - { type: RegularExpression, name: x-a, value: "(a)\\\\1" }', // 9
      '          queryParams:', // 10
      '            - { type: RegularExpression, name: q, value: "(?<=a)b" }', // 11
      '            - { type: RegularExpression, name: ok, value: "(?P<n>[0-9]+)" }', // 12
    ].join('\n');
    const r = compileSources([{ file: 'r.yaml', text }]);
    // Located at the quoted value: line and 1-based column of its opening quote.
    const at = (line: number) => `r.yaml:${line}:${text.split('\n')[line - 1]!.indexOf('"') + 1}`;
    const lines = r.diagnostics.map(formatDiagnostic);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(
      `${at(7)}: spec.rules[0].matches[0].path.value: is not a valid RE2 regular expression (invalid or unsupported Perl syntax: \`(?!\`); RE2 has no backreferences or lookaround`,
    );
    expect(lines[1]).toContain(
      `${at(9)}: spec.rules[0].matches[0].headers[0].value: is not a valid RE2 regular expression (invalid escape sequence:`,
    );
    expect(lines[2]).toContain(`${at(11)}: spec.rules[0].matches[0].queryParams[0].value: is not a valid RE2 regular expression`);
    expect(r.errors).toBe(3);
  });
});
