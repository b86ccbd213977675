/** API keys: hashed lookup, wrong/missing/right keys, the constant-time walk, and `edgeway hash-key`. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashKeyCommand, keyFromInput } from '../../../src/cli/hash-key.js';
import { ApiKeyAuthentication } from '../../../src/schema/securitypolicy.js';
import { compileApiKeyAuth, findConsumer, hashApiKey, timingSafeEqual, type KeyEntry } from '../../../src/security/apikey.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s, 'utf8').digest('hex')}`;
const auth = (extra: Record<string, unknown> = {}) =>
  compileApiKeyAuth(
    ApiKeyAuthentication.parse({
      consumers: [
        { name: 'acme', keyHashes: [sha('acme-key-1'), sha('acme-key-2')] },
        { name: 'globex', keyHashes: [sha('globex-key')] },
      ],
      ...extra,
    }),
  );
const URL_ = new URL('https://api.example.com/x');

describe('API keys', () => {
  it('hashes as sha256:<hex> of the UTF-8 bytes', async () => {
    expect(await hashApiKey('acme-key-1')).toBe(sha('acme-key-1'));
    expect(await hashApiKey('clé')).toBe(sha('clé'));
  });

  it('right key → consumer; wrong key → invalid; missing → absent', async () => {
    const a = auth();
    expect(await a.authenticate(new Headers({ 'x-api-key': 'acme-key-2' }), URL_)).toMatchObject({ status: 'ok', consumer: 'acme' });
    expect(await a.authenticate(new Headers({ 'x-api-key': 'globex-key' }), URL_)).toMatchObject({ status: 'ok', consumer: 'globex' });
    expect(await a.authenticate(new Headers({ 'x-api-key': 'acme-key-3' }), URL_)).toMatchObject({ status: 'invalid' });
    expect(await a.authenticate(new Headers({ 'x-api-key': sha('acme-key-1') }), URL_)).toMatchObject({ status: 'invalid' }); // the hash is not a key
    expect(await a.authenticate(new Headers({ 'x-api-key': 'x'.repeat(20_000) }), URL_)).toMatchObject({ status: 'invalid' });
    expect(await a.authenticate(new Headers(), URL_)).toEqual({ status: 'absent' });
    expect(await a.authenticate(new Headers({ authorization: 'acme-key-1' }), URL_)).toEqual({ status: 'absent' });
  });

  it('reads from configured headers, params and cookies', async () => {
    const a = auth({ extractFrom: { headers: ['X-Key'], params: ['key'], cookies: ['k'] } });
    expect(a.sources).toEqual({ headers: [{ name: 'X-Key' }], params: ['key'], cookies: ['k'] });
    expect(await a.authenticate(new Headers(), new URL('https://x/?key=globex-key'))).toMatchObject({
      status: 'ok',
      location: { type: 'param', name: 'key' },
    });
    expect(await a.authenticate(new Headers({ cookie: 'k=acme-key-1' }), URL_)).toMatchObject({
      status: 'ok',
      location: { type: 'cookie', name: 'k' },
    });
    expect(await a.authenticate(new Headers({ 'x-api-key': 'acme-key-1' }), URL_)).toEqual({ status: 'absent' });
  });

  it('compares against every stored hash, whether the key matches first, last or never', () => {
    const entries: KeyEntry[] = Array.from({ length: 8 }, (_, i) => ({ consumer: `c${i}`, digest: new Uint8Array(32).fill(i) }));
    for (const target of [0, 7, 99]) {
      let calls = 0;
      const counting = (a: Uint8Array, b: Uint8Array) => {
        calls++;
        return timingSafeEqual(a, b);
      };
      const found = findConsumer(new Uint8Array(32).fill(target), entries, counting);
      expect(found).toBe(target < 8 ? `c${target}` : undefined);
      expect(calls).toBe(entries.length);
    }
  });

  it('timingSafeEqual: equal only for equal bytes of equal length', () => {
    expect(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([9, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
  });
});

describe('edgeway hash-key', () => {
  const run = async (input: string) => {
    const lines: string[] = [];
    const errors: string[] = [];
    const code = await hashKeyCommand(input, { log: (l) => lines.push(l), error: (l) => errors.push(l) });
    return { code, lines, errors };
  };

  it('prints the hash of stdin without one trailing newline', async () => {
    expect(await run('acme-key-1\n')).toEqual({ code: 0, lines: [sha('acme-key-1')], errors: [] });
    expect(await run('acme-key-1')).toEqual({ code: 0, lines: [sha('acme-key-1')], errors: [] });
    expect(keyFromInput(' k \r\n')).toBe(' k ');
  });

  it('refuses empty input and several lines, without printing the key', async () => {
    for (const input of ['', '\n', 'a\nb\n']) {
      const r = await run(input);
      expect(r.code).toBe(1);
      expect(r.lines).toEqual([]);
    }
  });
});
