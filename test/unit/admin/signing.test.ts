/** Request signing: what is covered by the signature, the ±5 minute window, key parsing. */
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, parseAgentKeys, signRequest, verifyRequest } from '../../../src/admin/signing.js';

const keys = { east: 'east-secret-0123456789abcdef' };
const NOW = Date.parse('2026-11-26T12:00:00Z');

async function signed(over: Partial<{ method: string; path: string; body: string; now: number; secret: string; cluster: string }> = {}) {
  const h = await signRequest({
    secret: keys.east,
    cluster: 'east',
    method: 'POST',
    path: '/_edgeway/v1/agent/endpoints',
    body: '{"a":1}',
    now: NOW,
    ...over,
  });
  return new Headers(h);
}
const verify = (headers: Headers, over: Partial<{ method: string; path: string; body: string; now: number }> = {}) =>
  verifyRequest({ headers, method: 'POST', path: '/_edgeway/v1/agent/endpoints', body: '{"a":1}', keys, now: NOW, ...over });

describe('verifyRequest', () => {
  it('accepts a correctly signed request', async () => {
    expect(await verify(await signed())).toMatchObject({ ok: true, cluster: 'east' });
  });
  it.each([
    ['method', { method: 'PUT' }],
    ['path', { path: '/_edgeway/v1/agent/heartbeat' }],
    ['body', { body: '{"a":2}' }],
  ])('refuses a changed %s', async (_n, over) => {
    expect(await verify(await signed(), over)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });
  it('refuses outside ±5 minutes and accepts inside', async () => {
    const h = await signed();
    expect(await verify(h, { now: NOW + 5 * 60_000 - 1000 })).toMatchObject({ ok: true });
    expect(await verify(h, { now: NOW + 5 * 60_000 + 1000 })).toMatchObject({ ok: false, reason: 'expired' });
    expect(await verify(h, { now: NOW - 5 * 60_000 - 1000 })).toMatchObject({ ok: false, reason: 'expired' });
  });
  it('refuses unknown clusters, wrong keys and missing headers', async () => {
    expect(await verify(await signed({ cluster: 'west' }))).toMatchObject({ ok: false, reason: 'unknown-cluster' });
    expect(await verify(await signed({ secret: 'another-secret-0123456789' }))).toMatchObject({ ok: false, reason: 'bad-signature' });
    const h = await signed();
    h.delete('x-edgeway-nonce');
    expect(await verify(h)).toMatchObject({ ok: false, reason: 'missing-headers' });
  });
  it('gives two identical requests different signatures (nonce)', async () => {
    expect((await signed()).get('x-edgeway-signature')).not.toBe((await signed()).get('x-edgeway-signature'));
  });
});

it('compares secrets without regard to length or prefix', async () => {
  expect(await constantTimeEqual('abc', 'abc')).toBe(true);
  expect(await constantTimeEqual('abc', 'abd')).toBe(false);
  expect(await constantTimeEqual('abc', 'abcd')).toBe(false);
});

it('parses AGENT_KEYS, failing closed on bad input and short keys', () => {
  expect(parseAgentKeys('{"a":"0123456789abcdef","b":"short"}')).toEqual({ a: '0123456789abcdef' });
  expect(parseAgentKeys('not json')).toEqual({});
  expect(parseAgentKeys('["x"]')).toEqual({});
  expect(parseAgentKeys(undefined)).toEqual({});
  expect(Object.keys(parseAgentKeys('{"__proto__":"0123456789abcdef0","Bad Name":"0123456789abcdef0"}'))).toEqual([]);
});
