/** SecurityPolicy through the one validation pipeline: strict fields, located refusals, reference checks. */
import { describe, expect, it } from 'vitest';
import { compileSources, formatDiagnostic } from '../../../src/cli/compile.js';
import { checkReferences } from '../../../src/schema/references.js';
import { SecurityPolicy } from '../../../src/schema/securitypolicy.js';
import type { Resource } from '../../../src/schema/snapshot.js';
import { formatPath, validateResource } from '../../../src/schema/validate.js';

const HASH = `sha256:${'ab'.repeat(32)}`;
const base = (spec: Record<string, unknown>) => ({
  apiVersion: 'edgeway.dev/v1alpha1',
  kind: 'SecurityPolicy',
  metadata: { name: 'sec' },
  spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api' }], ...spec },
});
const issues = (raw: unknown) => {
  const r = validateResource(raw);
  return r.ok ? [] : r.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
};
const JWK = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
  kid: 'k1',
};

describe('SecurityPolicy schema', () => {
  it('accepts a complete policy and applies defaults', () => {
    const p = SecurityPolicy.parse(
      base({
        cors: {
          allowOrigins: ['https://app.example.com', 'https://*.example.com'],
          allowMethods: ['GET', 'POST'],
          maxAge: '10m',
          allowCredentials: true,
        },
        jwt: { providers: [{ name: 'idp', issuer: 'https://idp.example.com', remoteJWKS: { uri: 'https://idp.example.com/jwks.json' } }] },
        apiKeyAuth: { consumers: [{ name: 'acme', keyHashes: [HASH] }] },
        authorization: { rules: [{ action: 'Allow', principal: { consumers: ['acme'] } }] },
      }),
    );
    expect(p.spec.jwt?.providers[0]?.remoteJWKS?.cacheDuration).toBe('5m');
    expect(p.spec.apiKeyAuth?.forwardConsumerHeader).toBe('x-edgeway-consumer');
    expect(p.spec.authorization?.defaultAction).toBe('Deny');
  });

  it('refuses allowCredentials with "*", located at the origin', () => {
    expect(issues(base({ cors: { allowOrigins: ['https://a.example.com', '*'], allowCredentials: true } }))).toEqual([
      expect.stringMatching(/^spec\.cors\.allowOrigins\[1\]: allowCredentials cannot be combined with "\*"/),
    ]);
    expect(issues(base({ cors: { allowOrigins: ['*'] } }))).toEqual([]);
  });

  it('refuses unknown fields at every level, by name', () => {
    expect(issues(base({ jwt: { providers: [{ name: 'a', localJWKS: { keys: [JWK] }, issuerr: 'x' }] } }))).toEqual([
      'spec.jwt.providers[0].issuerr: unknown field "issuerr"',
    ]);
    expect(issues(base({ cors: { allowOrigins: ['*'], allowOrigin: ['x'] } }))).toEqual([
      'spec.cors.allowOrigin: unknown field "allowOrigin"',
    ]);
    expect(issues(base({ authorization: { rules: [{ action: 'Allow', principal: { clientCIDR: ['10.0.0.0/8'] } }] } }))).toContain(
      'spec.authorization.rules[0].principal.clientCIDR: unknown field "clientCIDR"',
    );
  });

  it('refuses plain keys, private or symmetric JWKs, plain-http JWKS and bad CIDRs', () => {
    expect(issues(base({ apiKeyAuth: { consumers: [{ name: 'a', keyHashes: ['my-secret-key'] }] } }))[0]).toMatch(
      /^spec\.apiKeyAuth\.consumers\[0\]\.keyHashes\[0\]: must be "sha256:"/,
    );
    expect(issues(base({ jwt: { providers: [{ name: 'a', localJWKS: { keys: [{ ...JWK, d: 'private' }] } }] } })).join('\n')).toContain(
      'private key material',
    );
    expect(
      issues(base({ jwt: { providers: [{ name: 'a', localJWKS: JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }) }] } })).join(
        '\n',
      ),
    ).toMatch(/spec\.jwt\.providers\[0\]\.localJWKS/);
    expect(issues(base({ jwt: { providers: [{ name: 'a', remoteJWKS: { uri: 'http://idp.example.com/jwks' } }] } }))).toEqual([
      expect.stringMatching(/^spec\.jwt\.providers\[0\]\.remoteJWKS\.uri: must be https:\/\//),
    ]);
    expect(issues(base({ jwt: { providers: [{ name: 'a', remoteJWKS: { uri: 'http://127.0.0.1:9200/jwks' } }] } }))).toEqual([]);
    for (const bad of ['10.0.0.0', '10.1/8', '0x0a.0.0.0/8', '10.0.0.0/33', 'fe80::/10%eth0', '::/129'])
      expect(issues(base({ authorization: { rules: [{ action: 'Deny', principal: { clientCIDRs: [bad] } }] } })), bad).toEqual([
        expect.stringMatching(/^spec\.authorization\.rules\[0\]\.principal\.clientCIDRs\[0\]: must be a CIDR/),
      ]);
  });

  it('refuses both or neither JWKS, wildcard origins that are not a leading label, and dangling principals', () => {
    expect(issues(base({ jwt: { providers: [{ name: 'a' }] } }))).toEqual([
      'spec.jwt.providers[0]: set exactly one of remoteJWKS and localJWKS',
    ]);
    expect(issues(base({ cors: { allowOrigins: ['https://a.*.example.com'] } }))[0]).toMatch(/^spec\.cors\.allowOrigins\[0\]/);
    expect(issues(base({ cors: { allowOrigins: ['https://app.example.com/path'] } }))[0]).toMatch(/^spec\.cors\.allowOrigins\[0\]/);
    expect(
      issues(
        base({
          apiKeyAuth: { consumers: [{ name: 'acme', keyHashes: [HASH] }] },
          authorization: { rules: [{ action: 'Allow', principal: { consumers: ['acne'] } }] },
        }),
      ),
    ).toEqual(['spec.authorization.rules[0].principal.consumers[0]: no consumer named "acne" in apiKeyAuth']);
    expect(
      issues(
        base({
          apiKeyAuth: {
            consumers: [
              { name: 'a', keyHashes: [HASH] },
              { name: 'b', keyHashes: [HASH] },
            ],
          },
        }),
      ),
    ).toEqual(['spec.apiKeyAuth.consumers[1].keyHashes[0]: key hash already belongs to consumer "a"']);
    expect(issues(base({}))).toEqual(['spec: set at least one of cors, jwt, apiKeyAuth and authorization']);
  });

  it('reference checks: unknown route or rule, two policies on one target; enforced, so publishable', () => {
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'api' },
      spec: { rules: [{ name: 'main' }] },
    };
    const parse = (raw: unknown) => {
      const r = validateResource(raw);
      if (!r.ok) throw new Error(JSON.stringify(r.issues));
      return r.resource;
    };
    const p1 = base({ cors: { allowOrigins: ['*'] } });
    const p2 = { ...base({ cors: { allowOrigins: ['*'] } }), metadata: { name: 'other' } };
    const p3 = { ...base({ cors: { allowOrigins: ['*'] } }), metadata: { name: 'ghost' } };
    p3.spec.targetRefs = [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'nope' }];
    const all: Resource[] = [parse(route), parse(p1), parse(p2), parse(p3)];
    const found = checkReferences(all).map((i) => `${i.index} ${formatPath(i.path)}: ${i.message}`);
    expect(found).toContain(
      '2 spec.targetRefs[0]: HTTPRoute default/api already has SecurityPolicy default/sec: one policy per route or rule',
    );
    expect(found).toContain('3 spec.targetRefs[0].name: HTTPRoute default/nope is not defined');
    expect(found.filter((f) => f.includes('not yet enforced'))).toHaveLength(0);
    expect(checkReferences([parse(route), parse(p1)])).toEqual([]);
  });

  it('route files: errors located at file:line:col', () => {
    const r = compileSources([
      {
        file: 'sec.yaml',
        text: [
          'apiVersion: gateway.networking.k8s.io/v1',
          'kind: HTTPRoute',
          'metadata: { name: api }',
          'spec: { rules: [{ name: main }] }',
          '---',
          'apiVersion: edgeway.dev/v1alpha1',
          'kind: SecurityPolicy',
          'metadata: { name: sec }',
          'spec:',
          '  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api, sectionName: other }]',
          '  cors:',
          '    allowOrigins: ["*"]',
          '    allowCredentials: true',
        ].join('\n'),
      },
    ]);
    const lines = r.diagnostics.map(formatDiagnostic);
    expect(lines).toContainEqual(
      expect.stringMatching(/^sec\.yaml:12:20: spec\.cors\.allowOrigins\[0\]: allowCredentials cannot be combined/),
    );
  });
});
