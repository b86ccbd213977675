/**
 * SecurityPolicy through the whole gateway in workerd: JWT against a JWKS served on loopback (test/support/jwks-server.ts),
 * rotation and forged-kid floods, API keys, IP allow/deny, CORS at the edge and per-consumer rate limits.
 */
import { SELF } from 'cloudflare:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { backend, endpoint, get, publish, route, upstreamUrl } from './helpers.js';

const ISSUER = 'https://idp.edgeway.test';
const AUDIENCE = 'edgeway-api';
const jwksBase = () => `http://127.0.0.1:${inject('jwksPort')}`;
const jwksUri = (name: string) => `${jwksBase()}/jwks/${name}`;

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: Record<string, unknown>;
  spki: string;
}
const keys: Record<string, Key> = {};

beforeAll(async () => {
  for (const kid of ['k1', 'k2', 'forger']) {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    keys[kid] = {
      kid,
      privateKey,
      jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
      spki: await exportSPKI(publicKey),
    };
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function serveJwks(name: string, ks: Key[]): Promise<void> {
  const res = await fetch(jwksUri(name), { method: 'PUT', body: JSON.stringify({ keys: ks.map((k) => k.jwk) }) });
  expect(res.status).toBe(204);
}
const jwksFetches = async (name: string) => ((await (await fetch(`${jwksBase()}/_count/${name}`)).json()) as { count: number }).count;

const nowS = () => Math.floor(Date.now() / 1000);
function sign(key: Key, claims: Record<string, unknown> = {}, kid: string = key.kid): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', scope: 'read', exp: nowS() + 300, iat: nowS(), ...claims })
    .setProtectedHeader({ alg: 'ES256', kid })
    .sign(key.privateKey);
}
const b64url = (s: string | Uint8Array) =>
  btoa(typeof s === 'string' ? s : String.fromCharCode(...s))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

async function sha256Hash(key: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return `sha256:${[...d].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

const target = (name: string, sectionName?: string) => ({
  group: 'gateway.networking.k8s.io',
  kind: 'HTTPRoute',
  name,
  ...(sectionName ? { sectionName } : {}),
});
const securityPolicy = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'SecurityPolicy',
  metadata: { name },
  spec,
});

/** Captures every console line the gateway writes (access log, JWKS events) while `fn` runs. */
async function captureLogs<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    return { result: await fn(), lines };
  } finally {
    vi.restoreAllMocks();
  }
}

const wasSeen = async (requestId: string) =>
  ((await (await fetch(`${upstreamUrl('blue')}/_seen/${requestId}`)).json()) as { seen: boolean }).seen;

async function publishJwtRoute(jwksName: string): Promise<void> {
  await publish([
    backend('blue', [endpoint('blue')]),
    route('jwt-api', { hostnames: ['jwt.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
    securityPolicy('jwt-api', {
      targetRefs: [target('jwt-api')],
      jwt: {
        providers: [
          {
            name: 'idp',
            issuer: ISSUER,
            audiences: [AUDIENCE],
            remoteJWKS: { uri: jwksUri(jwksName), cacheDuration: '10m' },
            claimToHeaders: [{ claim: 'sub', header: 'x-user' }],
          },
        ],
      },
      authorization: { defaultAction: 'Deny', rules: [{ name: 'readers', action: 'Allow', principal: { jwt: { scopes: ['read'] } } }] },
    }),
  ]);
}
const withToken = (token: string, extra: Record<string, string> = {}) => ({
  headers: { authorization: `Bearer ${token}`, 'cf-connecting-ip': '198.51.100.20', ...extra },
});

describe('JWT routes', () => {
  it('401 without a token, 200 with a valid one (claims to headers, client-sent x-user replaced), 403 for a missing scope', async () => {
    await serveJwks('basic', [keys.k1!]);
    await publishJwtRoute('basic');

    const none = await get('http://jwt.example.com/orders', { headers: { 'cf-connecting-ip': '198.51.100.20' } });
    expect(none.res.status).toBe(401);
    expect(none.res.headers.get('www-authenticate')).toBe('Bearer realm="edgeway"');
    expect(none.json).toMatchObject({ error: 'credentials_missing' });

    const ok = await get('http://jwt.example.com/orders', withToken(await sign(keys.k1!), { 'x-user': 'mallory' }));
    expect(ok.res.status).toBe(200);
    expect(ok.echo!.headers['x-user']).toBe('alice');

    const denied = await get('http://jwt.example.com/orders', withToken(await sign(keys.k1!, { scope: 'write' })));
    expect(denied.res.status).toBe(403);
    expect(denied.res.headers.get('content-type')).toContain('application/json');
    expect(denied.json).toEqual({ error: 'forbidden', message: 'not allowed', requestId: denied.res.headers.get('x-request-id') });
    expect(await jwksFetches('basic')).toBe(1);
  });

  it('refuses forged and out-of-policy tokens with 401 Bearer error="invalid_token", and logs the reason once', async () => {
    await serveJwks('forged', [keys.k1!]);
    await publishJwtRoute('forged');
    const k1 = keys.k1!;
    const payload = b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', scope: 'read', exp: nowS() + 300 }));
    const hs256 = async (secret: string) => {
      const header = b64url(JSON.stringify({ alg: 'HS256', kid: 'k1', typ: 'JWT' }));
      const hmac = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
        'sign',
      ]);
      const sig = new Uint8Array(await crypto.subtle.sign('HMAC', hmac, new TextEncoder().encode(`${header}.${payload}`)));
      return `${header}.${payload}.${b64url(sig)}`;
    };
    const cases: [string, string][] = [
      ['alg none (no signature)', `${b64url(JSON.stringify({ alg: 'none', kid: 'k1' }))}.${payload}.`],
      ['alg none (junk signature)', `${b64url(JSON.stringify({ alg: 'none', kid: 'k1' }))}.${payload}.AAAA`],
      ['HS256 keyed with the public key PEM', await hs256(k1.spki)],
      ['HS256 keyed with the public JWK', await hs256(JSON.stringify(k1.jwk))],
      ['wrong issuer', await sign(k1, { iss: 'https://evil.example.com' })],
      ['wrong audience', await sign(k1, { aud: 'another-api' })],
      ['expired beyond the 60 s skew', await sign(k1, { exp: nowS() - 120 })],
      ['not yet valid beyond the 60 s skew', await sign(k1, { nbf: nowS() + 600 })],
      ['signed by a key the JWKS does not have, under its kid', await sign(keys.forger!, {}, 'k1')],
      [
        'tampered payload',
        (await sign(k1)).replace(
          /\.[^.]+\./,
          `.${b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'root', scope: 'read', exp: nowS() + 300 }))}.`,
        ),
      ],
    ];
    const { lines } = await captureLogs(async () => {
      for (const [name, token] of cases) {
        const r = await get('http://jwt.example.com/orders', withToken(token));
        expect(r.res.status, name).toBe(401);
        expect(r.res.headers.get('www-authenticate'), name).toMatch(/^Bearer realm="edgeway", error="invalid_token"/);
        expect(['token_invalid', 'token_expired'], name).toContain(r.json!.error);
        expect(r.json!.requestId, name).toBe(r.res.headers.get('x-request-id'));
      }
    });
    const access = lines.filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(access).toHaveLength(cases.length);
    for (const line of access) {
      expect(line.status).toBe(401);
      expect(String(line.reason)).toMatch(/^default\/jwt-api: /);
    }
    expect(access.map((l) => l.reason)).toContain('default/jwt-api: issuer mismatch');
    expect(access.map((l) => l.reason)).toContain('default/jwt-api: token expired');
    // No token (or any part of one) in any line.
    for (const [, token] of cases) for (const l of lines) expect(l).not.toContain(token.split('.')[1]);
    // The issuer is checked before any key lookup, and a known kid never refetches.
    expect(await jwksFetches('forged')).toBe(1);
  });

  it('picks up a rotated key without a deploy, one refetch per interval, and a flood of forged kids adds at most one fetch', async () => {
    await serveJwks('rotation', [keys.k1!]);
    await publishJwtRoute('rotation');
    const started = Date.now();
    expect((await get('http://jwt.example.com/', withToken(await sign(keys.k1!)))).res.status).toBe(200);
    expect(await jwksFetches('rotation')).toBe(1);

    // The identity provider rotates: k2 is published, tokens signed with it start arriving.
    await serveJwks('rotation', [keys.k1!, keys.k2!]);
    const k2Token = await sign(keys.k2!);
    // Within the refetch interval (30 s) of the last fetch, the unknown kid costs nothing and is refused.
    expect((await get('http://jwt.example.com/', withToken(k2Token))).res.status).toBe(401);
    expect(await jwksFetches('rotation')).toBe(1);

    vi.spyOn(Date, 'now').mockReturnValue(started + 31_000);
    const rotated = await get('http://jwt.example.com/', withToken(k2Token));
    expect(rotated.res.status).toBe(200);
    expect(rotated.echo!.headers['x-user']).toBe('alice');
    expect(await jwksFetches('rotation')).toBe(2);

    // Forged kids, each new: the interval holds them all to no more fetch at this instant...
    const flood = async () => {
      const statuses = await Promise.all(
        Array.from(
          { length: 12 },
          async (_, i) =>
            (await get('http://jwt.example.com/', withToken(await sign(keys.forger!, {}, `forged-${Date.now()}-${i}`)))).res.status,
        ),
      );
      expect(statuses.every((s) => s === 401)).toBe(true);
    };
    await flood();
    expect(await jwksFetches('rotation')).toBe(2);
    // ...and to one more fetch in the next interval, however many arrive.
    vi.spyOn(Date, 'now').mockReturnValue(started + 62_000);
    await flood();
    await flood();
    expect(await jwksFetches('rotation')).toBe(3);
    // Valid tokens kept working throughout.
    expect((await get('http://jwt.example.com/', withToken(k2Token))).res.status).toBe(200);
  });
});

describe('API key routes', () => {
  const ALICE_KEY = 'ak_alice_7f3c9d2e1b0a4f6e8d5c';
  const BOB_KEY = 'ak_bob_0a1b2c3d4e5f60718293';

  const apiKeyResources = async (consumers: [string, string][]) => [
    backend('blue', [endpoint('blue')]),
    route('keyed', { hostnames: ['keyed.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
    securityPolicy('keyed', {
      targetRefs: [target('keyed')],
      apiKeyAuth: {
        consumers: await Promise.all(consumers.map(async ([name, key]) => ({ name, keyHashes: [await sha256Hash(key)] }))),
        extractFrom: { headers: ['x-api-key'], params: ['api_key'] },
      },
    }),
  ];

  it('forwards the consumer, strips the credential before the upstream, keeps it out of logs; removal takes effect with the next table', async () => {
    await publish(
      await apiKeyResources([
        ['alice', ALICE_KEY],
        ['bob', BOB_KEY],
      ]),
    );
    const { lines, result } = await captureLogs(async () => {
      const byHeader = await get('http://keyed.example.com/items?x=1', {
        headers: { 'x-api-key': ALICE_KEY, 'x-edgeway-consumer': 'admin', 'cf-connecting-ip': '198.51.100.30' },
      });
      const byParam = await get(`http://keyed.example.com/items?api_key=${BOB_KEY}&x=2`, {
        headers: { 'cf-connecting-ip': '198.51.100.30' },
      });
      const wrong = await get('http://keyed.example.com/items', {
        headers: { 'x-api-key': `${ALICE_KEY}x`, 'cf-connecting-ip': '198.51.100.30' },
      });
      const missing = await get('http://keyed.example.com/items', { headers: { 'cf-connecting-ip': '198.51.100.30' } });
      return { byHeader, byParam, wrong, missing };
    });
    const { byHeader, byParam, wrong, missing } = result;
    expect(byHeader.res.status).toBe(200);
    expect(byHeader.echo!.headers['x-edgeway-consumer']).toBe('alice');
    expect(byHeader.echo!.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(byHeader.echo)).not.toContain(ALICE_KEY);
    expect(byParam.res.status).toBe(200);
    expect(byParam.echo!.headers['x-edgeway-consumer']).toBe('bob');
    expect(byParam.echo!.url).toBe('/items?x=2');
    expect(JSON.stringify(byParam.echo)).not.toContain(BOB_KEY);
    expect(wrong.res.status).toBe(401);
    expect(wrong.json).toMatchObject({ error: 'api_key_invalid' });
    expect(wrong.res.headers.get('www-authenticate')).toBe('ApiKey realm="edgeway"');
    expect(missing.res.status).toBe(401);
    expect(missing.json).toMatchObject({ error: 'credentials_missing' });

    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const l of lines) {
      expect(l).not.toContain(ALICE_KEY);
      expect(l).not.toContain(BOB_KEY);
    }
    const refused = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.status === 401);
    expect(refused.map((l) => [l.error, l.reason])).toEqual([
      ['api_key_invalid', 'default/keyed: unknown api key'],
      ['credentials_missing', 'default/keyed: no api key'],
    ]);

    // Bob's key is removed from the policy: the next table refuses it.
    await publish(await apiKeyResources([['alice', ALICE_KEY]]));
    expect((await get('http://keyed.example.com/', { headers: { 'x-api-key': BOB_KEY } })).res.status).toBe(401);
    expect((await get('http://keyed.example.com/', { headers: { 'x-api-key': ALICE_KEY } })).res.status).toBe(200);
  });

  it('per-consumer rate limit: two consumers behind one address get separate quotas; an anonymous request falls back to the IP', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      route('quota', { hostnames: ['quota.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      securityPolicy('quota', {
        targetRefs: [target('quota')],
        apiKeyAuth: {
          consumers: [
            { name: 'alice', keyHashes: [await sha256Hash(ALICE_KEY)] },
            { name: 'bob', keyHashes: [await sha256Hash(BOB_KEY)] },
          ],
          optional: true,
        },
      }),
      {
        apiVersion: 'edgeway.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: { name: 'per-consumer' },
        spec: { targetRefs: [target('quota')], limits: [{ requests: 2, window: '60s' }], keys: [{ type: 'Consumer' }] },
      },
    ]);
    const call = async (key?: string) => {
      const res = await SELF.fetch('http://quota.example.com/', {
        headers: { 'cf-connecting-ip': '198.51.100.40', ...(key ? { 'x-api-key': key } : {}) },
      });
      await res.body?.cancel();
      return res.status;
    };
    const alice = [await call(ALICE_KEY), await call(ALICE_KEY), await call(ALICE_KEY)];
    const bob = [await call(BOB_KEY), await call(BOB_KEY), await call(BOB_KEY)];
    expect(alice).toEqual([200, 200, 429]);
    expect(bob).toEqual([200, 200, 429]);
    // No principal: missingKey (FallbackToClientIP) counts the address, which neither consumer used up.
    expect([await call(), await call(), await call()]).toEqual([200, 200, 429]);
  });
});

describe('IP allow/deny', () => {
  it('denies and allows by CF-Connecting-IP for IPv4 and IPv6, and ignores a client-sent X-Forwarded-For', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      route('denylist', { hostnames: ['deny.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      route('allowlist', { hostnames: ['allow.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      securityPolicy('denylist', {
        targetRefs: [target('denylist')],
        authorization: {
          defaultAction: 'Allow',
          rules: [{ name: 'blocked', action: 'Deny', principal: { clientCIDRs: ['203.0.113.0/24', '2001:db8:bad::/48'] } }],
        },
      }),
      securityPolicy('allowlist', {
        targetRefs: [target('allowlist')],
        authorization: {
          defaultAction: 'Deny',
          rules: [{ name: 'office', action: 'Allow', principal: { clientCIDRs: ['192.0.2.0/24', '2001:db8:0ff1::/48'] } }],
        },
      }),
    ]);
    const status = async (host: string, ip: string, extra: Record<string, string> = {}) => {
      const r = await get(`http://${host}/`, { headers: { 'cf-connecting-ip': ip, ...extra } });
      if (r.res.status === 403) expect(r.json).toMatchObject({ error: 'ip_denied', message: 'requests from this address are not allowed' });
      return r.res.status;
    };
    expect(await status('deny.example.com', '203.0.113.9')).toBe(403);
    expect(await status('deny.example.com', '198.51.100.9')).toBe(200);
    expect(await status('deny.example.com', '2001:db8:bad:1::9')).toBe(403);
    expect(await status('deny.example.com', '2001:db8:900d::9')).toBe(200);
    expect(await status('deny.example.com', '203.0.113.9', { 'x-forwarded-for': '198.51.100.9' })).toBe(403);

    expect(await status('allow.example.com', '192.0.2.77')).toBe(200);
    expect(await status('allow.example.com', '2001:db8:ff1::1')).toBe(200);
    expect(await status('allow.example.com', '198.51.100.9')).toBe(403);
    expect(await status('allow.example.com', '2001:db8:bad::1')).toBe(403);
    expect(await status('allow.example.com', '198.51.100.9', { 'x-forwarded-for': '192.0.2.77', 'x-real-ip': '192.0.2.77' })).toBe(403);
    // No client address at all: an allowlist cannot allow it.
    expect((await get('http://allow.example.com/')).res.status).toBe(403);
  });
});

describe('CORS at the edge', () => {
  it('answers preflights without reaching the upstream (even on an authenticated route) and decorates actual responses', async () => {
    const key = 'ak_cors_5e6f7a8b9c0d1e2f';
    await publish([
      backend('blue', [endpoint('blue')]),
      route('browser', { hostnames: ['browser.example.com'], rules: [{ backendRefs: [{ name: 'blue' }] }] }),
      securityPolicy('browser', {
        targetRefs: [target('browser')],
        cors: {
          allowOrigins: ['https://app.example.com', 'https://*.example.org'],
          allowMethods: ['GET', 'POST'],
          allowHeaders: ['x-api-key', 'content-type'],
          exposeHeaders: ['x-request-id'],
          maxAge: '10m',
        },
        apiKeyAuth: { consumers: [{ name: 'web', keyHashes: [await sha256Hash(key)] }] },
      }),
    ]);
    const preflight = (origin: string) =>
      SELF.fetch('http://browser.example.com/items', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
      });

    const ok = await preflight('https://shop.example.org');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://shop.example.org');
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(ok.headers.get('access-control-allow-headers')).toBe('x-api-key, content-type');
    expect(ok.headers.get('access-control-max-age')).toBe('600');
    expect(ok.headers.get('vary')).toContain('Origin');
    expect(await wasSeen(ok.headers.get('x-request-id')!)).toBe(false);

    const bad = await preflight('https://evil.example.com');
    expect(bad.status).toBe(204);
    expect(bad.headers.get('access-control-allow-origin')).toBeNull();
    expect(bad.headers.get('access-control-allow-methods')).toBeNull();
    expect(await wasSeen(bad.headers.get('x-request-id')!)).toBe(false);

    // An actual request from an allowed origin: the upstream's answer carries the CORS headers and Vary: Origin.
    const actual = await get('http://browser.example.com/items', { headers: { origin: 'https://app.example.com', 'x-api-key': key } });
    expect(actual.res.status).toBe(200);
    expect(actual.res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(actual.res.headers.get('access-control-expose-headers')).toBe('x-request-id');
    expect(actual.res.headers.get('vary')).toContain('Origin');
    expect(await wasSeen(actual.res.headers.get('x-request-id')!)).toBe(true);

    // A refusal is readable by the allowed origin too; a disallowed origin gets no CORS headers but Vary: Origin.
    const refused = await get('http://browser.example.com/items', { headers: { origin: 'https://app.example.com' } });
    expect(refused.res.status).toBe(401);
    expect(refused.res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const foreign = await get('http://browser.example.com/items', { headers: { origin: 'https://evil.example.com', 'x-api-key': key } });
    expect(foreign.res.status).toBe(200);
    expect(foreign.res.headers.get('access-control-allow-origin')).toBeNull();
    expect(foreign.res.headers.get('vary')).toContain('Origin');
  });
});
