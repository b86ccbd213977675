/** CORS: preflights answered at the edge, origin matching (exact, "*", one-label wildcards), credentials, Vary. */
import { describe, expect, it } from 'vitest';
import { Cors } from '../../../src/schema/securitypolicy.js';
import { applyCorsDecoration, compileCors, compileOrigins } from '../../../src/security/cors.js';

const preflightHeaders = (origin: string, method = 'PUT', headers?: string) =>
  new Headers({ origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) });

describe('origin matching', () => {
  const match = compileOrigins(['https://app.example.com', 'https://*.example.com', 'http://*.dev.test:8080']);
  it.each([
    ['https://app.example.com', true],
    ['https://APP.example.com', true],
    ['https://a.example.com', true],
    ['https://a-b-1.example.com', true],
    ['https://evil.com.example.com', false], // "*" is one label
    ['https://a.b.example.com', false],
    ['https://example.com', false],
    ['https://.example.com', false],
    ['https://-a.example.com', false],
    ['https://aexample.com', false],
    ['https://a.example.com.evil.com', false],
    ['http://a.example.com', false],
    ['https://a.example.com:8443', false],
    ['https://a.example.com/', false],
    ['http://x.dev.test:8080', true],
    ['http://x.dev.test', false],
    ['null', false],
    ['', false],
  ])('%s → %s', (origin, allowed) => expect(match(origin)).toBe(allowed));

  it('stays fast on hostile input (no backtracking)', () => {
    const long = `https://${'a-'.repeat(5000)}.example.com`;
    expect(match(long)).toBe(false);
    expect(compileOrigins(['*'])('https://anything.test')).toBe(true);
  });
});

describe('preflight', () => {
  const cors = compileCors(
    Cors.parse({
      allowOrigins: ['https://app.example.com'],
      allowMethods: ['GET', 'PUT'],
      allowHeaders: ['content-type', 'x-trace'],
      exposeHeaders: ['x-request-id'],
      maxAge: '10m',
      allowCredentials: true,
    }),
  );

  it('is OPTIONS with Origin and Access-Control-Request-Method, nothing less', () => {
    expect(cors.isPreflight('OPTIONS', preflightHeaders('https://app.example.com'))).toBe(true);
    expect(cors.isPreflight('OPTIONS', new Headers({ origin: 'https://app.example.com' }))).toBe(false);
    expect(cors.isPreflight('PUT', preflightHeaders('https://app.example.com'))).toBe(false);
  });

  it('answers an allowed origin with 204 and the allow headers', () => {
    const r = cors.preflight(preflightHeaders('https://app.example.com', 'PUT', 'content-type'));
    expect(r.status).toBe(204);
    expect(Object.fromEntries(r.headers)).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-headers': 'content-type, x-trace',
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
  });

  it('answers a disallowed origin without any Access-Control-Allow-* header', () => {
    const r = cors.preflight(preflightHeaders('https://evil.example.net'));
    expect(r.status).toBe(204);
    expect([...r.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([]);
    expect(r.headers.get('vary')).toContain('Origin');
  });

  it('"*" origins without credentials answer "*"; "*" methods/headers with credentials echo the request', () => {
    const open = compileCors(Cors.parse({ allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'] }));
    const r = open.preflight(preflightHeaders('https://x.test', 'DELETE', 'x-a'));
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-allow-methods')).toBe('*');
    expect(r.headers.has('access-control-allow-credentials')).toBe(false);
    const cred = compileCors(
      Cors.parse({ allowOrigins: ['https://x.test'], allowMethods: ['*'], allowHeaders: ['*'], allowCredentials: true }),
    );
    const c = cred.preflight(preflightHeaders('https://x.test', 'DELETE', 'x-a, x-b'));
    expect(c.headers.get('access-control-allow-methods')).toBe('DELETE');
    expect(c.headers.get('access-control-allow-headers')).toBe('x-a, x-b');
  });
});

describe('actual responses', () => {
  const cors = compileCors(
    Cors.parse({ allowOrigins: ['https://*.example.com'], exposeHeaders: ['x-request-id'], allowCredentials: true }),
  );

  it('an allowed origin gets Allow-Origin (echoed), credentials and expose headers; Vary is appended to', () => {
    const d = cors.decorate(new Headers({ origin: 'https://a.example.com' }));
    const h = new Headers({ vary: 'Accept-Encoding' });
    applyCorsDecoration(h, d);
    expect(Object.fromEntries(h)).toEqual({
      'access-control-allow-origin': 'https://a.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-request-id',
      vary: 'Accept-Encoding, Origin',
    });
    applyCorsDecoration(h, d);
    expect(h.get('vary')).toBe('Accept-Encoding, Origin');
  });

  it('a disallowed or missing origin gets no CORS headers but still Vary: Origin', () => {
    for (const headers of [new Headers({ origin: 'https://evil.com.example.com' }), new Headers()]) {
      const h = new Headers();
      applyCorsDecoration(h, cors.decorate(headers));
      expect(Object.fromEntries(h)).toEqual({ vary: 'Origin' });
    }
  });
});
