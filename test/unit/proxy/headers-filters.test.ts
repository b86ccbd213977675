import { describe, expect, it } from 'vitest';
import { redirectLocation, replacePrefix, rewritePath } from '../../../src/proxy/filters.js';
import { applyHeaderModifier, nextTraceparent, stripHopByHop, upstreamHeaders } from '../../../src/proxy/headers.js';

const hex = (n: number) => 'ab'.repeat(n);

describe('hop-by-hop and forwarding headers', () => {
  it('removes hop-by-hop fields and those named in Connection, keeping Upgrade for WebSockets', () => {
    const h = new Headers({
      connection: 'Upgrade, X-Hop',
      upgrade: 'websocket',
      'x-hop': '1',
      'keep-alive': '5',
      'transfer-encoding': 'chunked',
      accept: '*/*',
    });
    stripHopByHop(h, true);
    expect([...h.keys()].sort()).toEqual(['accept', 'connection', 'upgrade']);
    const plain = new Headers({ connection: 'close', upgrade: 'h2c', accept: '*/*' });
    stripHopByHop(plain);
    expect([...plain.keys()]).toEqual(['accept']);
  });

  it('replaces client-sent forwarding fields with the edge facts', () => {
    const h = upstreamHeaders(
      new Headers({
        'x-forwarded-for': '1.1.1.1',
        'x-forwarded-proto': 'https',
        forwarded: 'for=x',
        'x-edgeway-route': 'forged',
        'true-client-ip': '9.9.9.9',
      }),
      { clientIp: null, proto: 'http', host: 'api.example.com', requestId: 'rid', traceparent: 'tp' },
      false,
    );
    expect(h.get('x-forwarded-for')).toBeNull();
    expect(h.get('x-forwarded-proto')).toBe('http');
    expect(h.get('forwarded')).toBeNull();
    expect(h.get('x-edgeway-route')).toBeNull();
    expect(h.get('true-client-ip')).toBeNull();
    expect(h.get('x-request-id')).toBe('rid');
  });

  it('continues valid traces and restarts invalid ones', () => {
    expect(nextTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', hex)).toBe(
      `00-0af7651916cd43dd8448eb211c80319c-${hex(8)}-01`,
    );
    expect(nextTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01', hex)).toBe(`00-${hex(16)}-${hex(8)}-01`);
    expect(nextTraceparent('ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', hex)).toBe(`00-${hex(16)}-${hex(8)}-01`);
    expect(nextTraceparent(null, hex)).toBe(`00-${hex(16)}-${hex(8)}-01`);
  });

  it('applies set, add and remove', () => {
    const h = new Headers({ a: '1', b: '2', c: '3' });
    applyHeaderModifier(h, { set: [{ name: 'a', value: 'x' }], add: [{ name: 'b', value: 'y' }], remove: ['c'] });
    expect(Object.fromEntries(h)).toEqual({ a: 'x', b: '2,y' });
  });

  // Gateway API conformance (httproute-request-header-modifier): add to an existing header appends after a comma
  // with no space, the way Envoy sends it; a header that is absent is simply added.
  it('add appends to an existing value as "existing,added" and leaves other headers alone', () => {
    const h = new Headers({ 'x-header-add': 'some-value', 'x-keep': 'k' });
    applyHeaderModifier(h, {
      add: [
        { name: 'X-Header-Add', value: 'add-appends-values' },
        { name: 'x-header-new', value: 'new' },
      ],
    });
    expect(h.get('x-header-add')).toBe('some-value,add-appends-values');
    expect(h.get('x-header-new')).toBe('new');
    expect(h.get('x-keep')).toBe('k');
  });

  it('add keeps each Set-Cookie a field of its own (cookies cannot be comma-joined)', () => {
    const h = new Headers();
    h.append('set-cookie', 'a=1; Path=/');
    applyHeaderModifier(h, { add: [{ name: 'Set-Cookie', value: 'b=2; Path=/' }] });
    expect(h.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });
});

describe('URL filters (Gateway API conformance examples)', () => {
  const prefix = (value: string) => ({ path: { type: 'PathPrefix' as const, value } });
  it.each([
    ['/prefix/one/two', '/prefix/one', '/one', '/one/two'],
    ['/strip-prefix/three', '/strip-prefix', '/', '/three'],
    ['/strip-prefix', '/strip-prefix', '/', '/'],
    ['/prefix/one/', '/prefix/one', '/one', '/one/'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/anything', '/', '/api', '/api/anything'],
  ])('%s with prefix %s -> %s gives %s', (path, matched, replacement, expected) => {
    expect(replacePrefix(path, matched, replacement)).toBe(expected);
  });

  it('replaces the full path', () => {
    expect(rewritePath('/a/b', { type: 'ReplaceFullPath', replaceFullPath: '/one' }, prefix('/a'))).toBe('/one');
  });

  it('builds redirect locations, dropping default ports', () => {
    const url = new URL('http://example.com:8080/old/x?q=1');
    expect(redirectLocation(url, { scheme: 'https', statusCode: 301 }, prefix('/'))).toBe('https://example.com/old/x?q=1');
    expect(redirectLocation(url, { hostname: 'new.example.com', statusCode: 302 }, prefix('/'))).toBe(
      'http://new.example.com:8080/old/x?q=1',
    );
    expect(redirectLocation(url, { port: 443, scheme: 'https', statusCode: 302 }, prefix('/'))).toBe('https://example.com/old/x?q=1');
    expect(
      redirectLocation(url, { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 302 }, prefix('/old')),
    ).toBe('http://example.com:8080/new/x?q=1');
  });
});
