/** RFC 9421 agent signatures: what is covered, the time window, the audience, key ids and rotation, key parsing. */
import { describe, expect, it } from 'vitest';
import {
  checkContentDigest,
  checkSignature,
  constantTimeEqual,
  contentDigest,
  parseAgentKeys,
  parseAgentKeysDetailed,
  signRequest,
  verifyRequest,
  type AgentKeys,
} from '../../../src/admin/signing.js';

const SECRET = 'east-secret-0123456789abcdef';
const keys: AgentKeys = { east: { default: SECRET } };
const NOW = Date.parse('2026-11-26T12:00:00Z');
const URL_ = 'https://edge.example.com/_edgeway/v1/agent/endpoints';

type SignOver = Partial<{ method: string; url: string; body: string; now: number; secret: string; keyid: string; tag: string }>;
async function signed(over: SignOver = {}) {
  const h = await signRequest({ secret: SECRET, keyid: 'east', method: 'POST', url: URL_, body: '{"a":1}', now: NOW, ...over });
  return new Headers(h);
}
type VerifyOver = Partial<{ method: string; url: string; body: string; now: number; keys: AgentKeys; audience: string }>;
const verify = (headers: Headers, over: VerifyOver = {}) =>
  verifyRequest({ headers, method: 'POST', url: URL_, body: '{"a":1}', keys, now: NOW, ...over });

describe('signRequest / verifyRequest (RFC 9421 subset)', () => {
  it('produces the RFC 9421 and RFC 9530 fields and verifies them', async () => {
    const h = await signed();
    expect(h.get('content-digest')).toBe(await contentDigest('{"a":1}'));
    expect(h.get('content-digest')).toMatch(/^sha-256=:[A-Za-z0-9+/]+=*:$/);
    expect(h.get('signature-input')).toMatch(
      /^edgeway=\("@method" "@authority" "@path" "@query" "content-digest"\);created=\d+;expires=\d+;nonce="[^"]+";keyid="east";alg="hmac-sha256"$/,
    );
    expect(h.get('signature')).toMatch(/^edgeway=:[A-Za-z0-9+/]+=*:$/);
    expect(await verify(h)).toMatchObject({ ok: true, cluster: 'east', keyid: 'east' });
  });

  it.each([
    ['method', { method: 'PUT' }, 'bad-signature'],
    ['path', { url: 'https://edge.example.com/_edgeway/v1/agent/heartbeat' }, 'bad-signature'],
    ['query', { url: `${URL_}?policy=sync` }, 'bad-signature'],
    ['host (another environment)', { url: 'https://staging.example.com/_edgeway/v1/agent/endpoints' }, 'bad-signature'],
    ['port', { url: 'https://edge.example.com:8443/_edgeway/v1/agent/endpoints' }, 'bad-signature'],
    ['body', { body: '{"a":2}' }, 'bad-digest'],
  ] as const)('refuses a changed %s', async (_n, over, reason) => {
    expect(await verify(await signed(), over)).toEqual({ ok: false, reason });
  });

  it('refuses a forged Content-Digest even when the body matches it (the digest is signed)', async () => {
    const h = await signed();
    h.set('content-digest', await contentDigest('{"a":2}'));
    expect(await verify(h, { body: '{"a":2}' })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses outside ±5 minutes and accepts inside', async () => {
    const h = await signed();
    expect(await verify(h, { now: NOW + 5 * 60_000 - 1000 })).toMatchObject({ ok: true });
    expect(await verify(h, { now: NOW + 5 * 60_000 + 1000 })).toMatchObject({ ok: false, reason: 'expired' });
    expect(await verify(h, { now: NOW - 5 * 60_000 - 1000 })).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses signatures whose own expiry has passed or that claim a lifetime over 5 minutes', async () => {
    const short = await signRequest({ secret: SECRET, keyid: 'east', method: 'POST', url: URL_, body: '{"a":1}', now: NOW, lifetimeS: 10 });
    expect(await verify(new Headers(short), { now: NOW + 5000 })).toMatchObject({ ok: true });
    expect(await verify(new Headers(short), { now: NOW + 10_000 + 61_000 })).toMatchObject({ ok: false, reason: 'expired' });
    const long = await signRequest({
      secret: SECRET,
      keyid: 'east',
      method: 'POST',
      url: URL_,
      body: '{"a":1}',
      now: NOW,
      lifetimeS: 3600,
    });
    expect(await verify(new Headers(long))).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('binds the configured audience: tag must equal EDGEWAY_AUDIENCE, and be absent when none is set', async () => {
    expect(await verify(await signed({ tag: 'prod' }), { audience: 'prod' })).toMatchObject({ ok: true });
    expect(await verify(await signed({ tag: 'staging' }), { audience: 'prod' })).toEqual({ ok: false, reason: 'wrong-audience' });
    expect(await verify(await signed(), { audience: 'prod' })).toEqual({ ok: false, reason: 'wrong-audience' });
    expect(await verify(await signed({ tag: 'staging' }))).toEqual({ ok: false, reason: 'wrong-audience' });
  });

  it('refuses a tag edited after signing (the parameters are part of the signed base)', async () => {
    const h = await signed({ tag: 'staging' });
    h.set('signature-input', h.get('signature-input')!.replace('tag="staging"', 'tag="prod"'));
    expect(await verify(h, { audience: 'prod' })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses unknown clusters and key ids, wrong keys and missing or malformed headers', async () => {
    expect(await verify(await signed({ keyid: 'west' }))).toEqual({ ok: false, reason: 'unknown-key' });
    expect(await verify(await signed({ keyid: 'east/k9' }))).toEqual({ ok: false, reason: 'unknown-key' });
    expect(await verify(await signed({ keyid: 'east/default/x' }))).toEqual({ ok: false, reason: 'unknown-key' });
    expect(await verify(await signed({ secret: 'another-secret-0123456789' }))).toEqual({ ok: false, reason: 'bad-signature' });
    for (const name of ['signature', 'signature-input', 'content-digest']) {
      const h = await signed();
      h.delete(name);
      expect(await verify(h)).toEqual({ ok: false, reason: 'missing-headers' });
    }
    const fewer = await signed();
    fewer.set('signature-input', fewer.get('signature-input')!.replace(' "@authority"', ''));
    expect(await verify(fewer)).toEqual({ ok: false, reason: 'unsupported-components' });
    const alg = await signed();
    alg.set('signature-input', alg.get('signature-input')!.replace('hmac-sha256', 'rsa-pss-sha512'));
    expect(await verify(alg)).toEqual({ ok: false, reason: 'bad-algorithm' });
    const garbage = await signed();
    garbage.set('signature', 'edgeway=notbytes');
    expect(await verify(garbage)).toEqual({ ok: false, reason: 'missing-headers' });
  });

  it('rotation: with two keys, a signature by either verifies, naming its key id or only the cluster', async () => {
    const two: AgentKeys = { east: { k1: 'old-secret-0123456789abcdef', k2: 'new-secret-0123456789abcdef' } };
    const old = { secret: 'old-secret-0123456789abcdef' };
    const neu = { secret: 'new-secret-0123456789abcdef' };
    expect(await verify(await signed({ ...old, keyid: 'east/k1' }), { keys: two })).toMatchObject({ ok: true, keyid: 'east/k1' });
    expect(await verify(await signed({ ...neu, keyid: 'east/k2' }), { keys: two })).toMatchObject({ ok: true, keyid: 'east/k2' });
    expect(await verify(await signed({ ...old, keyid: 'east' }), { keys: two })).toMatchObject({ ok: true });
    expect(await verify(await signed({ ...neu, keyid: 'east' }), { keys: two })).toMatchObject({ ok: true });
    // The key id selects exactly one key: the old key under the new id is refused.
    expect(await verify(await signed({ ...old, keyid: 'east/k2' }), { keys: two })).toEqual({ ok: false, reason: 'bad-signature' });
    // After the rotation only k2 remains: the old key is refused whichever id it claims.
    const after: AgentKeys = { east: { k2: 'new-secret-0123456789abcdef' } };
    expect(await verify(await signed({ ...old, keyid: 'east/k1' }), { keys: after })).toEqual({ ok: false, reason: 'unknown-key' });
    expect(await verify(await signed({ ...old, keyid: 'east' }), { keys: after })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('gives two identical requests different signatures (nonce)', async () => {
    expect((await signed()).get('signature')).not.toBe((await signed()).get('signature'));
  });

  it('checks the signature without the body: checkSignature never needs it', async () => {
    const h = await signed();
    const r = await checkSignature({ headers: h, method: 'POST', url: URL_, keys, now: NOW });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(await checkContentDigest(r.contentDigest, '{"a":1}')).toBe(true);
      expect(await checkContentDigest(r.contentDigest, '{"a":1} ')).toBe(false);
    }
  });
});

it('compares secrets without regard to length or prefix', async () => {
  expect(await constantTimeEqual('abc', 'abc')).toBe(true);
  expect(await constantTimeEqual('abc', 'abd')).toBe(false);
  expect(await constantTimeEqual('abc', 'abcd')).toBe(false);
});

it('parses AGENT_KEYS in both forms, at most two keys per cluster, failing closed on bad input', () => {
  expect(parseAgentKeys('{"a":"0123456789abcdef","b":"short"}')).toEqual({ a: { default: '0123456789abcdef' } });
  expect(parseAgentKeys('{"a":{"k1":"0123456789abcdef","k2":"fedcba9876543210"}}')).toEqual({
    a: { k1: '0123456789abcdef', k2: 'fedcba9876543210' },
  });
  const three = parseAgentKeysDetailed(
    '{"a":{"k1":"0123456789abcdef","k2":"0123456789abcdef","k3":"0123456789abcdef"},"b":"0123456789abcdef"}',
  );
  expect(three.keys).toEqual({ b: { default: '0123456789abcdef' } });
  expect(three.problems).toEqual(['AGENT_KEYS.a: expected 1 or 2 keys']);
  expect(parseAgentKeys('{"a":{"K 1":"0123456789abcdef"}}')).toEqual({});
  expect(parseAgentKeys('not json')).toEqual({});
  expect(parseAgentKeys('["x"]')).toEqual({});
  expect(parseAgentKeys(undefined)).toEqual({});
  expect(Object.keys(parseAgentKeys('{"__proto__":"0123456789abcdef0","Bad Name":"0123456789abcdef0"}'))).toEqual([]);
  // Problems name the entry, never the secret.
  expect(JSON.stringify(parseAgentKeysDetailed('{"a":"short-secret"}').problems)).not.toContain('short-secret');
});
