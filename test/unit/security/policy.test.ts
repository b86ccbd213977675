/** The composed stage: order (preflight → IP → authn → authz), refusals, and what reaches the upstream. */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { SecurityPolicy } from '../../../src/schema/securitypolicy.js';
import {
  applyToUpstream,
  compileSecurityPolicies,
  compileSecurityPolicy,
  decorateResponse,
  type SecurityOutcome,
  type SecurityRequest,
} from '../../../src/security/policy.js';
import { AUDIENCE, ISSUER, jwks, makeKey, NOW, sign, type TestKey } from './support.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s, 'utf8').digest('hex')}`;
const KEY = 'acme-0123456789abcdef';

let key: TestKey;
beforeAll(async () => {
  key = await makeKey('k1', 'ES256');
});

const policy = (spec: Record<string, unknown>, name = 'sec', sectionName?: string) =>
  SecurityPolicy.parse({
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'SecurityPolicy',
    metadata: { name },
    spec: {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api', ...(sectionName ? { sectionName } : {}) }],
      ...spec,
    },
  });

const full = () =>
  policy({
    cors: { allowOrigins: ['https://app.example.com'], allowMethods: ['GET', 'POST'], allowCredentials: true },
    jwt: {
      optional: true,
      providers: [
        {
          name: 'idp',
          issuer: ISSUER,
          audiences: [AUDIENCE],
          localJWKS: JSON.stringify(jwks(key)),
          claimToHeaders: [{ claim: 'sub', header: 'x-user' }],
        },
      ],
    },
    apiKeyAuth: {
      optional: true,
      consumers: [{ name: 'acme', keyHashes: [sha(KEY)] }],
      extractFrom: { headers: ['x-api-key'], params: ['api_key'], cookies: ['api_key'] },
    },
    authorization: {
      defaultAction: 'Deny',
      rules: [
        { name: 'blocked', action: 'Deny', principal: { clientCIDRs: ['192.0.2.0/24'] } },
        { name: 'admins', action: 'Allow', principal: { jwt: { claims: [{ name: 'role', values: ['admin'] }] } } },
        { name: 'partners', action: 'Allow', principal: { consumers: ['acme'] } },
      ],
    },
  });

const req = (init: { method?: string; url?: string; headers?: Record<string, string>; ip?: string | null } = {}): SecurityRequest => ({
  method: init.method ?? 'GET',
  url: new URL(init.url ?? 'https://api.example.com/orders'),
  headers: new Headers(init.headers ?? {}),
  clientIp: init.ip === undefined ? '203.0.113.9' : init.ip,
});
const ctx = { now: NOW, requestId: 'req-1' };
const refused = async (o: SecurityOutcome) => {
  if (o.action !== 'respond') throw new Error(`expected a refusal, got ${JSON.stringify(o)}`);
  return {
    status: o.response.status,
    code: o.code,
    body: (await o.response.json().catch(() => null)) as Record<string, unknown> | null,
    headers: o.response.headers,
    log: o.log,
  };
};

describe('SecurityPolicy stage', () => {
  it('answers a preflight at the edge before any other check (even from a denied address)', async () => {
    const stage = compileSecurityPolicy(full());
    const o = await stage(
      req({ method: 'OPTIONS', ip: '192.0.2.1', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } }),
      ctx,
    );
    const r = await refused(o);
    expect(r.status).toBe(204);
    expect(r.code).toBe('cors_preflight');
    expect(r.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });

  it('IP deny → 403 before credentials are looked at; unknown address fails closed', async () => {
    const stage = compileSecurityPolicy(full());
    const r = await refused(await stage(req({ ip: '192.0.2.1', headers: { 'x-api-key': KEY } }), ctx));
    expect([r.status, r.code, r.log.rule]).toEqual([403, 'ip_denied', 'blocked']);
    expect((await refused(await stage(req({ ip: 'garbage', headers: { 'x-api-key': KEY } }), ctx))).code).toBe('ip_denied');
    expect((await refused(await stage(req({ ip: null, headers: { 'x-api-key': KEY } }), ctx))).code).toBe('ip_denied');
  });

  it('missing credentials → 401 with a Bearer challenge; invalid token → invalid_token; body never echoes the credential', async () => {
    const stage = compileSecurityPolicy(policy({ jwt: { providers: [{ name: 'idp', issuer: ISSUER, localJWKS: jwks(key) }] } }));
    const missing = await refused(await stage(req(), ctx));
    expect([missing.status, missing.code, missing.headers.get('www-authenticate')]).toEqual([
      401,
      'credentials_missing',
      'Bearer realm="edgeway"',
    ]);
    const bogus = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const bad = await refused(await stage(req({ headers: { authorization: `Bearer ${bogus}` } }), ctx));
    expect([bad.status, bad.code]).toEqual([401, 'token_invalid']);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="edgeway", error="invalid_token"/);
    expect(bad.body).toEqual({ error: 'token_invalid', message: 'the access token is invalid', requestId: 'req-1' });
    expect(JSON.stringify([bad.body, bad.log, [...bad.headers]])).not.toContain(bogus.split('.')[2]);
    const expired = await refused(
      await stage(req({ headers: { authorization: `Bearer ${await sign(key, { exp: NOW / 1000 - 3600 })}` } }), ctx),
    );
    expect([expired.status, expired.code]).toEqual([401, 'token_expired']);
  });

  it('wrong API key → 401, never logged; right key → consumer forwarded, key stripped from header, query and cookie', async () => {
    const stage = compileSecurityPolicy(full());
    const wrong = await refused(await stage(req({ headers: { 'x-api-key': 'not-the-key' } }), ctx));
    expect([wrong.status, wrong.code]).toEqual([401, 'api_key_invalid']);
    expect(JSON.stringify([wrong.body, wrong.log])).not.toContain('not-the-key');

    for (const where of ['header', 'param', 'cookie'] as const) {
      const r = req({
        url: `https://api.example.com/orders?page=2${where === 'param' ? `&api_key=${KEY}` : ''}`,
        headers: {
          'x-edgeway-consumer': 'spoofed',
          'x-user': 'spoofed',
          cookie: where === 'cookie' ? `theme=dark; api_key=${KEY}` : 'theme=dark',
          ...(where === 'header' ? { 'x-api-key': KEY } : {}),
          origin: 'https://app.example.com',
        },
      });
      const o = await stage(r, ctx);
      if (o.action !== 'continue') throw new Error(`${where}: ${o.reason}`);
      expect(o.decision.principal).toBe('consumer:acme');
      const headers = new Headers(r.headers);
      const url = new URL(r.url);
      applyToUpstream(headers, url, o.decision);
      expect(url.toString()).toBe('https://api.example.com/orders?page=2');
      expect(headers.get('cookie')).toBe('theme=dark');
      expect(headers.get('x-edgeway-consumer')).toBe('acme');
      expect(headers.has('x-api-key')).toBe(false);
      expect(headers.has('x-user')).toBe(false); // a client cannot pose as a JWT claim
      expect(JSON.stringify([...headers, url.toString()])).not.toContain(KEY);
      const res = decorateResponse(new Response('ok'), o.decision);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(res.headers.get('vary')).toBe('Origin');
    }
  });

  it('authorization: a valid token without the claim → 403 with CORS headers; with the claim → claim headers set', async () => {
    const stage = compileSecurityPolicy(full());
    const user = await refused(
      await stage(
        req({ headers: { authorization: `Bearer ${await sign(key, { role: 'user' })}`, origin: 'https://app.example.com' } }),
        ctx,
      ),
    );
    expect([user.status, user.code]).toEqual([403, 'forbidden']);
    expect(user.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const o = await stage(req({ headers: { authorization: `Bearer ${await sign(key, { role: 'admin', sub: 'alice' })}` } }), ctx);
    if (o.action !== 'continue') throw new Error(o.reason);
    expect(o.decision.principal).toBe('jwt:idp:alice');
    expect(o.decision.headersToSet).toEqual([['x-user', 'alice']]);
    // Neither credential: both optional, so authorization decides (defaultAction Deny).
    expect((await refused(await stage(req(), ctx))).code).toBe('forbidden');
  });

  it('a policy that cannot compile fails closed (503), it does not open the route', async () => {
    const p = policy({ jwt: { providers: [{ name: 'idp', remoteJWKS: { uri: 'https://idp.example.com/jwks' } }] } });
    const logs: unknown[] = [];
    const stage = compileSecurityPolicy(p, { log: (l) => logs.push(l) }); // no JWKS registry given
    expect((await refused(await stage(req(), ctx))).status).toBe(503);
    expect(logs).toHaveLength(1);
  });

  it('index: a rule-level policy replaces the route-level one for that rule only', async () => {
    const index = compileSecurityPolicies([
      policy({ cors: { allowOrigins: ['*'] } }, 'route'),
      policy({ authorization: { defaultAction: 'Deny' } }, 'rule', 'admin'),
    ]);
    const routeLevel = index.forRule('default/api', 'public')!;
    const ruleLevel = index.forRule('default/api', 'admin')!;
    expect((await routeLevel(req(), ctx)).action).toBe('continue');
    expect((await refused(await ruleLevel(req(), ctx))).code).toBe('forbidden');
    expect(index.forRule('default/other', undefined)).toBeUndefined();
    expect(index.forRule('default/api', undefined)).toBe(routeLevel);
  });
});
