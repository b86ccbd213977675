/** Request-path normalisation: RFC 3986 §6.2.2, dot segments, merged slashes, the escaped-slash policy, hostile input. */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PATH_POLICY,
  ESCAPED_SLASHES_ACTIONS,
  normalizePath,
  pathPolicyFrom,
  type EscapedSlashesAction,
  type PathPolicy,
} from '../../../src/routing/normalize.js';
import { seededRandom } from '../../support/seeded.js';

const policy = (escapedSlashes: EscapedSlashesAction, mergeSlashes = true): PathPolicy => ({ escapedSlashes, mergeSlashes });
const matched = (raw: string, p?: PathPolicy) => {
  const r = normalizePath(raw, p);
  if (r.action !== 'match') throw new Error(`${raw}: ${JSON.stringify(r)}`);
  return r.path;
};

describe('normalizePath: RFC 3986 §6.2.2 percent-encoding', () => {
  it.each([
    ['/%61dmin/x', '/admin/x'],
    ['/%41%42%43', '/ABC'],
    ['/a%2Db%2e%5F%7e', '/a-b._~'],
    ['/%30%39', '/09'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%3fb%23c', '/a%3Fb%23c'],
    ['/%20x', '/%20x'],
    ['/%252F', '/%252F'],
    ['/%25', '/%25'],
    ['/%2561dmin', '/%2561dmin'],
  ])('%s -> %s', (raw, want) => {
    expect(matched(raw)).toBe(want);
  });

  it('rejects a "%" not followed by two hex digits', () => {
    for (const raw of ['/%', '/a%', '/a%4', '/%zz', '/%4g', '/%g4', '/x%%41', '/%-1'])
      expect(normalizePath(raw), raw).toEqual({ action: 'reject', reason: 'invalid percent-encoding in path' });
  });

  it('rejects an encoded NUL', () => {
    expect(normalizePath('/a%00b')).toEqual({ action: 'reject', reason: 'encoded NUL (%00) in path' });
  });
});

describe('normalizePath: dot segments and slashes', () => {
  it.each([
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/admin/../public', '/public'],
    ['/%2e%2e/admin', '/admin'],
    ['/.%2E/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['/a/..b/c', '/a/..b/c'],
    ['/a/...', '/a/...'],
    ['/.well-known/x', '/.well-known/x'],
    ['//admin', '/admin'],
    ['/a//b///c', '/a/b/c'],
    ['/a/b//', '/a/b/'],
    ['//', '/'],
    ['/', '/'],
    ['', '/'],
    ['/a\\b', '/a/b'],
    // Dot segments first, then merging (Envoy's order): the empty segment is what ".." removes.
    ['/a//..', '/a/'],
  ])('%s -> %s', (raw, want) => {
    expect(matched(raw)).toBe(want);
  });

  it('keeps repeated slashes when merging is off, still removing dot segments', () => {
    const keep = policy('UnescapeRedirect', false);
    expect(matched('/a//b', keep)).toBe('/a//b');
    expect(matched('//admin/./x', keep)).toBe('//admin/x');
    expect(matched('/a//../b', keep)).toBe('/a/b');
  });

  it('returns an already normal path unchanged', () => {
    for (const raw of ['/', '/api/v1/users/7', '/a-b_c~d.e/f', '*']) expect(matched(raw)).toBe(raw);
  });
});

describe('normalizePath: escaped slashes (%2F, %5C) per escapedSlashesAction', () => {
  it("defaults to Envoy Gateway's UnescapeRedirect", () => {
    expect(DEFAULT_PATH_POLICY).toEqual({ escapedSlashes: 'UnescapeRedirect', mergeSlashes: true });
    expect(normalizePath('/admin%2Fx')).toEqual({ action: 'redirect', path: '/admin/x' });
    expect(normalizePath('/public%2F..%2Fadmin')).toEqual({ action: 'redirect', path: '/admin' });
    expect(normalizePath('/a%5cb')).toEqual({ action: 'redirect', path: '/a/b' });
  });

  it('KeepUnchanged keeps them encoded (upper-case hex) inside one segment', () => {
    const p = policy('KeepUnchanged');
    expect(matched('/admin%2fx', p)).toBe('/admin%2Fx');
    expect(matched('/public%2F..%2Fadmin', p)).toBe('/public%2F..%2Fadmin');
    expect(matched('/a%5cb', p)).toBe('/a%5Cb');
  });

  it('RejectRequest rejects them', () => {
    for (const raw of ['/a%2Fb', '/a%2fb', '/a%5Cb', '/a%5cb'])
      expect(normalizePath(raw, policy('RejectRequest')), raw).toEqual({ action: 'reject', reason: 'encoded slash (%2F or %5C) in path' });
    expect(matched('/a/b', policy('RejectRequest'))).toBe('/a/b');
  });

  it('UnescapeForward decodes them and matches the result', () => {
    const p = policy('UnescapeForward');
    expect(matched('/admin%2Fx', p)).toBe('/admin/x');
    expect(matched('/public%2F..%2Fadmin', p)).toBe('/admin');
    expect(matched('/a%2F%2Fb', p)).toBe('/a/b');
  });

  it('never decodes twice: %252F is a literal "%2F" text, whatever the action', () => {
    for (const action of ESCAPED_SLASHES_ACTIONS) expect(matched('/a%252Fb', policy(action)), action).toBe('/a%252Fb');
  });
});

describe('normalizePath: hostile input', () => {
  it('handles a 1 MB path of dot segments, slashes and escapes', () => {
    const huge = '/a/..'.repeat(100_000) + '//x/%2e/' + '%61'.repeat(100_000);
    const got = matched(huge);
    expect(got.startsWith('/x/a')).toBe(true);
    expect(got).toHaveLength(3 + 100_000);
  });

  it('rejects a huge path with one bad escape at the end', () => {
    expect(normalizePath('/x'.repeat(500_000) + '%')).toMatchObject({ action: 'reject' });
  });

  it('never climbs above the root', () => {
    expect(matched('/' + '../'.repeat(1000) + 'etc')).toBe('/etc');
  });

  // Properties on random paths over a hostile alphabet: the result is stable (normalising twice changes nothing),
  // has no dot segment or "//", no lower-case or unreserved escape, and survives the URL parser Workers uses.
  it('is idempotent and leaves nothing to normalise (random paths)', () => {
    const rand = seededRandom(10);
    const atoms = [
      '/',
      '//',
      '.',
      '..',
      '/./',
      '/../',
      'a',
      'Z',
      '%2e',
      '%2E',
      '%2f',
      '%5C',
      '%41',
      '%7e',
      '%20',
      '%3f',
      '%25',
      '%252F',
      '~',
      '-',
      '%c3%a9',
      'é',
      '\\',
    ];
    for (let n = 0; n < 2000; n++) {
      let raw = '/';
      const len = Math.floor(rand() * 12);
      for (let i = 0; i < len; i++) raw += atoms[Math.floor(rand() * atoms.length)];
      // What the gateway gets: the pathname after the URL parser (non-ASCII encoded, "\\" turned into "/").
      const parsed = new URL(`http://h.test${raw}`).pathname;
      for (const action of ['KeepUnchanged', 'UnescapeForward'] as const) {
        const once = matched(parsed, policy(action));
        expect(matched(once, policy(action)), raw).toBe(once);
        expect(once.split('/').slice(1, -1), raw).not.toContain('');
        expect(once.split('/'), raw).not.toContain('..');
        expect(once.split('/'), raw).not.toContain('.');
        expect(once, raw).not.toMatch(/%[0-9A-F]?[a-f]|%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/);
        // The gateway writes the path back into the request URL: it must come out exactly as matched.
        const url = new URL('http://h.test/');
        url.pathname = once;
        expect(url.pathname, raw).toBe(once);
      }
    }
  });
});

describe('pathPolicyFrom (Worker variables)', () => {
  it('reads PATH_ESCAPED_SLASHES and PATH_MERGE_SLASHES, defaulting the rest', () => {
    expect(pathPolicyFrom({})).toBe(DEFAULT_PATH_POLICY);
    expect(pathPolicyFrom({ PATH_ESCAPED_SLASHES: 'KeepUnchanged' })).toEqual(policy('KeepUnchanged'));
    expect(pathPolicyFrom({ PATH_ESCAPED_SLASHES: 'RejectRequest', PATH_MERGE_SLASHES: 'off' })).toEqual(policy('RejectRequest', false));
    expect(pathPolicyFrom({ PATH_ESCAPED_SLASHES: 'bogus' })).toEqual(DEFAULT_PATH_POLICY);
  });
});
