/**
 * Refusals: unsigned, unknown, forged, tampered, expired, replayed and cross-host agent calls get one identical 401;
 * key rotation; audience binding; body limits (413 without reading or hashing the body); operator calls without the
 * token; the admin hostname.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signRequest } from '../../src/admin/signing.js';
import { adminHarness, report, resources, AGENT_KEYS } from '../unit/admin/support/harness.js';

let h: Awaited<ReturnType<typeof adminHarness>>;
let baseline: { etag: string; snapshot: string; clusters: string };

beforeAll(async () => {
  h = await adminHarness();
  const tag = await h.etag();
  expect((await h.op('/resources', { method: 'PUT', json: { resources: resources() }, headers: { 'if-match': tag } })).status).toBe(200);
  expect((await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 2))).response.status).toBe(200);
  baseline = await state();
});
afterAll(() => h.stop());

async function state() {
  const snap = await h.op('/snapshot');
  return { etag: snap.headers.get('etag')!, snapshot: await snap.text(), clusters: await (await h.op('/clusters')).text() };
}

const unchanged = async () => expect(await state()).toEqual(baseline);

/** Everything a caller can observe of an answer. */
async function observed(res: Response) {
  return { status: res.status, body: await res.text(), headers: [...res.headers.entries()].sort() };
}

describe('operators', () => {
  it.each([
    ['no Authorization header', undefined],
    ['a wrong token', 'Bearer wrong-token-wrong-token-wrong'],
    ['the token with a different scheme', `Basic test-admin-token-0123456789abcdef`],
    ['an agent key as token', `Bearer ${AGENT_KEYS['aws-use1']}`],
  ])('refuses operator calls with %s (the same 401) and changes nothing', async (_label, authorization) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'if-match': '*' };
    if (authorization) headers.authorization = authorization;
    const call = (path: string, method: string, body?: unknown) =>
      h.call(path, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
    for (const res of [
      await call('/snapshot', 'GET'),
      await call('/resources', 'PUT', { resources: resources(0, 100) }),
      await call('/weights', 'POST', { route: 'shop', rule: 0, backends: [{ name: 'blue', weight: 0 }] }),
      await call('/rollback', 'POST', { version: 1 }),
      await call('/clusters', 'GET'),
      await call('/clusters/aws-use1/withdraw', 'POST'),
    ]) {
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('{"error":"unauthorized"}');
    }
    await unchanged();
  });

  it('refuses every operator call when ADMIN_TOKEN is shorter than 16 characters', async () => {
    const weak = await adminHarness({ ADMIN_TOKEN: 'short-token' }, { memory: true });
    try {
      const res = await weak.call('/snapshot', { headers: { authorization: 'Bearer short-token' } });
      expect(res.status).toBe(401);
    } finally {
      weak.stop();
    }
  });

  it('answers a publish over the 8 MiB limit with 413 without reading it', async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const res = await h.call('/resources', {
      method: 'PUT',
      headers: {
        authorization: 'Bearer test-admin-token-0123456789abcdef',
        'content-type': 'application/json',
        'content-length': String(8 * 1024 * 1024 + 1),
        'if-match': '*',
      },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'payload too large', limit: 8 * 1024 * 1024 });
    expect(pulled).toBeLessThanOrEqual(1); // a stream may prefetch one chunk; nothing is consumed
    await unchanged();
  });
});

describe('agents: one answer for every authentication failure', () => {
  it('gives unknown cluster, bad signature, wrong key id, unsigned, expired, replayed and wrong host the same 401', async () => {
    const good = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 4));
    expect(good.response.status).toBe(200);
    baseline = await state();

    const answers = {
      unknownCluster: await h.agent('rogue', '/agent/endpoints', report('rogue', 9)),
      badSignature: await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { secret: AGENT_KEYS['gcp-euw1'] }),
      unknownKeyId: await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { keyid: 'aws-use1/k7' }),
      expired: await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { now: Date.now() - 6 * 60_000 }),
      future: await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { now: Date.now() + 6 * 60_000 }),
      otherHost: await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { signHost: 'staging.edge.test' }),
    };
    const unsigned = await h.call('/agent/endpoints', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(report('aws-use1', 9)),
    });
    const replayed = await good.replay();

    const { unknownCluster, ...others } = answers;
    const reference = await observed(unknownCluster.response);
    expect(reference.status).toBe(401);
    expect(reference.body).toBe('{"error":"unauthorized"}');
    for (const [label, res] of [
      ...Object.entries(others).map(([k, v]) => [k, v.response] as const),
      ['unsigned', unsigned] as const,
      ['replayed', replayed] as const,
    ])
      expect(await observed(res), label).toEqual(reference);
    await unchanged();
  });

  it('logs the reason, which the answer does not carry', async () => {
    const logged: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logged.push(String(line)));
    try {
      await h.agent('rogue', '/agent/endpoints', report('rogue', 9));
      await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { secret: AGENT_KEYS['gcp-euw1'] });
    } finally {
      spy.mockRestore();
    }
    const reasons = logged.map((l) => JSON.parse(l) as { event?: string; reason?: string }).filter((l) => l.event === 'admin.auth.refused');
    expect(reasons.map((r) => r.reason)).toEqual(['unknown-key', 'bad-signature']);
    expect(logged.join('\n')).not.toContain(AGENT_KEYS['gcp-euw1']);
  });

  it('refuses a signature made for another host (staging replayed on production) even with a fresh nonce', async () => {
    // Signed for staging.edge.test, sent to edge.test: each is a new signature, so only the audience can refuse it.
    for (let i = 0; i < 3; i++) {
      const r = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { signHost: 'staging.edge.test' });
      expect(r.response.status).toBe(401);
    }
    // The same call signed for the host it is sent to is accepted: the host is what made the difference.
    const ok = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { host: 'staging.edge.test' });
    expect(ok.response.status).toBe(200);
    baseline = await state();
  });

  it('refuses a valid signature reused with another body, path, query or method (401)', async () => {
    const b = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 7));
    expect(b.response.status).toBe(200);
    baseline = await state();
    // Fresh signatures for each tampering, so the replay memory is not what refuses them.
    const signed = async (body: string) => ({
      ...(await signRequest({
        secret: AGENT_KEYS['aws-use1']!,
        keyid: 'aws-use1',
        method: 'POST',
        url: 'https://edge.test/_edgeway/v1/agent/endpoints',
        body,
        now: Date.now(),
      })),
      'content-type': 'application/json',
    });
    const text = JSON.stringify(report('aws-use1', 70));
    const tampered = text.replace('"readyEndpoints":70', '"readyEndpoints":71');
    const post = async (path: string, body: string, method = 'POST') => h.call(path, { method, headers: await signed(text), body });
    expect((await post('/agent/endpoints', tampered)).status).toBe(401); // body
    expect((await post('/agent/heartbeat', text)).status).toBe(401); // path
    expect((await post('/agent/endpoints?policy=sync', text)).status).toBe(401); // query
    expect((await post('/agent/endpoints', text)).status).toBe(200); // the untampered control
    baseline = await state();
    await unchanged();
  });

  it('refuses a replay that spells the same signature bytes differently in base64', async () => {
    const first = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 11));
    expect(first.response.status).toBe(200);
    baseline = await state();
    // 32 bytes = 43 base64 characters and "=": the last character carries 2 unused bits, which decoders ignore.
    const m = /^edgeway=:([A-Za-z0-9+/]{42})([A-Za-z0-9+/])=:$/.exec(first.headers.signature!)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const respelled = `edgeway=:${m[1]}${alphabet[alphabet.indexOf(m[2]!) ^ 1]}=:`;
    expect(respelled).not.toBe(first.headers.signature);
    const res = await h.call('/agent/endpoints', {
      method: 'POST',
      headers: { ...first.headers, signature: respelled, 'content-type': 'application/json' },
      body: first.text,
    });
    expect(res.status).toBe(401);
    await unchanged();
  });

  it('refuses a cluster writing another cluster’s endpoints (403) after authenticating it', async () => {
    const claim = await h.agent('gcp-euw1', '/agent/endpoints', report('aws-use1', 9));
    expect(claim.response.status).toBe(403);
    const smuggled = report('gcp-euw1', 1);
    smuggled.endpoints.push({ ...report('aws-use1', 9).endpoints[0]! });
    expect((await h.agent('gcp-euw1', '/agent/endpoints', smuggled)).response.status).toBe(403);
    await unchanged();
  });
});

describe('agents: body limit', () => {
  it('answers 413 on a Content-Length over 1 MiB without reading or hashing the body', async () => {
    const digest = vi.spyOn(crypto.subtle, 'digest');
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        if (pulled > 1) throw new Error('the body was read');
        c.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const text = JSON.stringify(report('aws-use1', 1));
    const headers = await signRequest({
      secret: AGENT_KEYS['aws-use1']!,
      keyid: 'aws-use1',
      method: 'POST',
      url: 'https://edge.test/_edgeway/v1/agent/endpoints',
      body: text,
      now: Date.now(),
    });
    digest.mockClear();
    const res = await h.call('/agent/endpoints', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(1024 * 1024 + 1) },
      body,
      duplex: 'half',
    } as RequestInit);
    const calls = digest.mock.calls.length;
    digest.mockRestore();
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'payload too large', limit: 1024 * 1024 });
    expect(calls).toBe(0);
    expect(pulled).toBeLessThanOrEqual(1);
    await unchanged();
  });

  it('answers 413 on a chunked body past 1 MiB, reading at most one chunk beyond the limit and hashing nothing', async () => {
    const digest = vi.spyOn(crypto.subtle, 'digest');
    const CHUNK = 64 * 1024;
    let pulledBytes = 0;
    // An endless body: a server that read it whole would never answer.
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulledBytes += CHUNK;
        c.enqueue(new Uint8Array(CHUNK).fill(0x20));
      },
    });
    const headers = await signRequest({
      secret: AGENT_KEYS['aws-use1']!,
      keyid: 'aws-use1',
      method: 'POST',
      url: 'https://edge.test/_edgeway/v1/agent/endpoints',
      body: 'whatever',
      now: Date.now(),
    });
    digest.mockClear();
    const res = await h.call('/agent/endpoints', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    const calls = digest.mock.calls.length;
    digest.mockRestore();
    expect(res.status).toBe(413);
    expect(calls).toBe(0);
    expect(pulledBytes).toBeLessThanOrEqual(1024 * 1024 + 3 * CHUNK);
    await unchanged();
  });

  it('refuses an unsigned oversized body with the same 401 as any unsigned call, before the size matters', async () => {
    const res = await h.call('/agent/endpoints', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) },
      body: new ReadableStream({ pull: () => Promise.reject(new Error('the body was read')) }),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('{"error":"unauthorized"}');
  });
});

describe('key rotation and audience', () => {
  const OLD = 'old-key-aws-use1-0123456789abcdef';
  const NEW = 'new-key-aws-use1-0123456789abcdef';

  it('accepts both keys while AGENT_KEYS holds two, and only the new one after the old is removed', async () => {
    const r = await adminHarness({ AGENT_KEYS: JSON.stringify({ 'aws-use1': { k1: OLD, k2: NEW } }) }, { memory: true });
    try {
      expect((await r.op('/resources', { method: 'PUT', json: { resources: resources() }, headers: { 'if-match': '*' } })).status).toBe(
        200,
      );
      const withKey = (secret: string, keyid: string) => r.agent('aws-use1', '/agent/endpoints', report('aws-use1', 1), { secret, keyid });
      expect((await withKey(OLD, 'aws-use1/k1')).response.status).toBe(200);
      expect((await withKey(NEW, 'aws-use1/k2')).response.status).toBe(200);
      expect((await withKey(OLD, 'aws-use1')).response.status).toBe(200); // an agent that does not know its key id
      expect((await withKey(NEW, 'aws-use1')).response.status).toBe(200);
      expect((await withKey(OLD, 'aws-use1/k2')).response.status).toBe(401); // a key id selects exactly that key

      r.setEnv({ AGENT_KEYS: JSON.stringify({ 'aws-use1': { k2: NEW } }) });
      expect((await withKey(OLD, 'aws-use1/k1')).response.status).toBe(401);
      expect((await withKey(OLD, 'aws-use1')).response.status).toBe(401);
      expect((await withKey(NEW, 'aws-use1/k2')).response.status).toBe(200);
    } finally {
      r.stop();
    }
  });

  it('with EDGEWAY_AUDIENCE set, accepts only signatures tagged with it', async () => {
    const prod = await adminHarness({ EDGEWAY_AUDIENCE: 'prod-eu' }, { memory: true });
    try {
      expect((await prod.op('/resources', { method: 'PUT', json: { resources: resources() }, headers: { 'if-match': '*' } })).status).toBe(
        200,
      );
      const push = (tag?: string) => prod.agent('aws-use1', '/agent/endpoints', report('aws-use1', 1), tag ? { tag } : {});
      expect((await push('staging-eu')).response.status).toBe(401);
      expect((await push()).response.status).toBe(401);
      expect((await push('prod-eu')).response.status).toBe(200);
    } finally {
      prod.stop();
    }
  });
});

describe('ADMIN_HOSTNAME', () => {
  it('serves the admin API only on the configured hostname', async () => {
    const a = await adminHarness({ ADMIN_HOSTNAME: 'admin.edge.test' }, { memory: true });
    try {
      const auth = { authorization: 'Bearer test-admin-token-0123456789abcdef' };
      expect((await a.call('/versions', { headers: auth })).status).toBe(404);
      expect((await a.call('/versions', { headers: auth }, 'admin.edge.test')).status).toBe(200);
      const push = await a.agent('aws-use1', '/agent/heartbeat', { cluster: 'aws-use1' });
      expect(push.response.status).toBe(404);
      const onAdmin = await a.agent('aws-use1', '/agent/heartbeat', { cluster: 'aws-use1' }, { host: 'admin.edge.test' });
      expect(onAdmin.response.status).toBe(200);
    } finally {
      a.stop();
    }
  });
});
