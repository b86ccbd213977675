/** Production defaults: with DEBUG_HEADERS off, no response (success or error) names a route, Backend or cluster. */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { app } from '../../src/app/index.js';
import { backend, endpoint, publish, refusedUrl, route } from './helpers.js';

// Names that exist only in our configuration: none of them may reach a client when debug is off.
const INTERNAL = ['secretroute', 'hidden-backend', 'ghost-backend', 'empty-backend', 'dead-backend', 'use1', 'refused', 'rule0'];

/** Calls the Worker's app with the test bindings, DEBUG_HEADERS overridden (vitest.config binds it on). */
async function call(url: string, debug: 'on' | 'off', init?: RequestInit) {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(url, init), { ...env, DEBUG_HEADERS: debug }, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return { res, text, headers: [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n') };
}

describe('DEBUG_HEADERS off (the wrangler.toml default)', () => {
  beforeAll(async () => {
    await publish([
      backend('hidden-backend', [endpoint('use1')]),
      backend('empty-backend', []),
      backend('dead-backend', [endpoint(refusedUrl())]),
      route('secretroute', {
        hostnames: ['defaults.example.com'],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/ok' } }], backendRefs: [{ name: 'hidden-backend' }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/empty' } }], backendRefs: [{ name: 'empty-backend' }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/ghost' } }], backendRefs: [{ name: 'ghost-backend' }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/dead' } }], backendRefs: [{ name: 'dead-backend' }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/nobackends' } }] },
        ],
      }),
    ]);
  });

  it('a proxied answer carries x-request-id but no x-edgeway-* header', async () => {
    const { res, headers } = await call('http://defaults.example.com/ok', 'off');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers).not.toMatch(/x-edgeway-/);
  });

  it.each([
    ['/empty', 503, 'no_ready_endpoint'],
    ['/ghost', 500, 'invalid_backend'],
    ['/dead', 502, 'upstream_unreachable'],
    ['/nobackends', 500, 'no_backend_refs'],
  ])('%s: %i %s with requestId and no internal name in body or headers', async (path, status, error) => {
    const { res, text, headers } = await call(`http://defaults.example.com${path}`, 'off');
    expect(res.status).toBe(status);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body.error).toBe(error);
    expect(body.requestId).toBe(res.headers.get('x-request-id'));
    expect(Object.keys(body).sort()).toEqual(['error', 'message', 'requestId']);
    for (const name of INTERNAL) {
      expect(text).not.toContain(name);
      expect(headers).not.toContain(name);
    }
  });

  it('a request no rule matches gets 404 without internal names', async () => {
    const { res, text } = await call('http://nowhere.example.com/x', 'off');
    expect(res.status).toBe(404);
    expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(['error', 'message', 'requestId']);
  });

  it('with DEBUG_HEADERS on the same answers name route, backend and cluster (what the dev server shows)', async () => {
    const ok = await call('http://defaults.example.com/ok', 'on');
    expect(ok.res.headers.get('x-edgeway-route')).toBe('default/secretroute/rule0');
    expect(ok.res.headers.get('x-edgeway-backend')).toBe('default/hidden-backend');
    expect(ok.res.headers.get('x-edgeway-cluster')).toBe('use1');
    const ghost = await call('http://defaults.example.com/ghost', 'on');
    expect(JSON.parse(ghost.text)).toMatchObject({
      error: 'invalid_backend',
      route: 'default/secretroute/rule2',
      backend: 'default/ghost-backend',
    });
    expect(ghost.text).toContain('ghost-backend');
  });
});
