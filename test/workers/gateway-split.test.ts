import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { backend, endpoint, get, publish, refusedUrl, route } from './helpers.js';

async function tally(url: string, n: number, init?: RequestInit) {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await SELF.fetch(url, init);
    const key = res.status === 200 ? (res.headers.get('x-edgeway-backend') ?? '?') : `status ${res.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
    await res.body?.cancel();
  }
  return counts;
}

describe('weighted splits', () => {
  it('splits 90/10 within ±3 points over 1000 requests', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      backend('green', [endpoint('green')]),
      route('split', {
        hostnames: ['split.example.com'],
        rules: [
          {
            backendRefs: [
              { name: 'blue', weight: 90 },
              { name: 'green', weight: 10 },
            ],
          },
        ],
      }),
    ]);
    const counts = await tally('http://split.example.com/', 1000);
    expect(Math.abs((counts['default/blue'] ?? 0) / 10 - 90)).toBeLessThanOrEqual(3);
    expect(Math.abs((counts['default/green'] ?? 0) / 10 - 10)).toBeLessThanOrEqual(3);
  });

  it('sends nothing to weight 0 and 500 for the share of a missing Backend', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      backend('green', [endpoint('green')]),
      route('zero', {
        hostnames: ['zero.example.com'],
        rules: [
          {
            backendRefs: [
              { name: 'blue', weight: 1 },
              { name: 'green', weight: 0 },
              { name: 'ghost', weight: 1 },
            ],
          },
        ],
      }),
      route('allzero', { hostnames: ['allzero.example.com'], rules: [{ backendRefs: [{ name: 'blue', weight: 0 }] }] }),
    ]);
    const counts = await tally('http://zero.example.com/', 400);
    expect(counts['default/green']).toBeUndefined();
    expect(Math.abs((counts['status 500'] ?? 0) / 4 - 50)).toBeLessThanOrEqual(8);
    expect(Math.abs((counts['default/blue'] ?? 0) / 4 - 50)).toBeLessThanOrEqual(8);
    // The ghost's share is half the requests: one of the first 50 lands there unless something is badly wrong.
    let ghost = await get('http://zero.example.com/');
    for (let i = 0; i < 50 && ghost.res.status !== 500; i++) ghost = await get('http://zero.example.com/');
    const { res, json } = ghost;
    expect(res.status).toBe(500);
    expect(json).toMatchObject({ error: 'invalid_backend', route: 'default/zero/rule0', backend: 'default/ghost' });
    const all = await get('http://allzero.example.com/');
    expect(all.res.status).toBe(500);
    expect(all.json?.error).toBe('all_weights_zero');
  });
});

describe('session persistence', () => {
  it('keeps a cookie session on the backend it got, and hands out the cookie once', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      backend('green', [endpoint('green')]),
      route('sticky', {
        hostnames: ['sticky.example.com'],
        rules: [
          {
            sessionPersistence: { sessionName: 'shop-session' },
            backendRefs: [
              { name: 'blue', weight: 50 },
              { name: 'green', weight: 50 },
            ],
          },
        ],
      }),
    ]);
    const first = await SELF.fetch('http://sticky.example.com/');
    const cookie = first.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^shop-session=[0-9a-f]{32}; Path=\/; HttpOnly/);
    const assigned = first.headers.get('x-edgeway-backend');
    const jar = cookie.split(';')[0]!;
    const counts = await tally('http://sticky.example.com/', 50, { headers: { cookie: jar } });
    expect(counts).toEqual({ [assigned!]: 50 });
    const again = await SELF.fetch('http://sticky.example.com/', { headers: { cookie: jar } });
    expect(again.headers.get('set-cookie')).toBeNull();
  });

  it('derives the assignment from the key alone, so every isolate agrees, and splits sessions by weight', async () => {
    await publish([
      backend('blue', [endpoint('blue')]),
      backend('green', [endpoint('green')]),
      route('sticky', {
        hostnames: ['sticky.example.com'],
        rules: [
          {
            sessionPersistence: { type: 'Header', sessionName: 'x-session' },
            backendRefs: [
              { name: 'blue', weight: 80 },
              { name: 'green', weight: 20 },
            ],
          },
        ],
      }),
    ]);
    const byKey: Record<string, string> = {};
    const share: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const key = `session-${i.toString(36).padStart(6, '0')}`;
      const res = await SELF.fetch('http://sticky.example.com/', { headers: { 'x-session': key } });
      await res.body?.cancel();
      byKey[key] = res.headers.get('x-edgeway-backend')!;
      share[byKey[key]] = (share[byKey[key]] ?? 0) + 1;
    }
    expect(Math.abs((share['default/blue'] ?? 0) / 10 - 80)).toBeLessThanOrEqual(3);
    // A new table version (as another isolate would load), even with the backendRefs listed in the other order,
    // gives every key the same backend.
    await publish([
      backend('blue', [endpoint('blue')]),
      backend('green', [endpoint('green')]),
      route('sticky', {
        hostnames: ['sticky.example.com'],
        rules: [
          {
            sessionPersistence: { type: 'Header', sessionName: 'x-session' },
            backendRefs: [
              { name: 'green', weight: 20 },
              { name: 'blue', weight: 80 },
            ],
          },
        ],
      }),
    ]);
    for (const key of Object.keys(byKey).slice(0, 100)) {
      const res = await SELF.fetch('http://sticky.example.com/', { headers: { 'x-session': key } });
      await res.body?.cancel();
      expect(res.headers.get('x-edgeway-backend')).toBe(byKey[key]);
    }
    const minted = await SELF.fetch('http://sticky.example.com/');
    expect(minted.headers.get('x-session')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('moves a session only when its backend has no usable endpoint', async () => {
    const rule = (blueUrl: string) => [
      backend('sblue', [endpoint(blueUrl)]),
      backend('sgreen', [endpoint('green')]),
      route('move', {
        hostnames: ['move.example.com'],
        rules: [{ sessionPersistence: { type: 'Header', sessionName: 'x-session' }, backendRefs: [{ name: 'sblue' }, { name: 'sgreen' }] }],
      }),
    ];
    await publish(rule('blue'));
    const onBlue: string[] = [];
    const onGreen: string[] = [];
    for (let i = 0; onBlue.length < 5 || onGreen.length < 5; i++) {
      const res = await SELF.fetch('http://move.example.com/', { headers: { 'x-session': `k-${i}-abcdefgh` } });
      await res.body?.cancel();
      (res.headers.get('x-edgeway-backend') === 'default/sblue' ? onBlue : onGreen).push(`k-${i}-abcdefgh`);
    }
    // sblue's only endpoint now refuses connections: after the failures eject it, its sessions move to sgreen.
    await publish(rule(refusedUrl()));
    for (let i = 0; i < 8; i++)
      await (await SELF.fetch('http://move.example.com/', { headers: { 'x-session': onBlue[0]! } })).body?.cancel();
    for (const key of onBlue) {
      const res = await SELF.fetch('http://move.example.com/', { headers: { 'x-session': key } });
      await res.body?.cancel();
      expect(res.headers.get('x-edgeway-backend')).toBe('default/sgreen');
    }
    for (const key of onGreen) {
      const res = await SELF.fetch('http://move.example.com/', { headers: { 'x-session': key } });
      await res.body?.cancel();
      expect(res.headers.get('x-edgeway-backend')).toBe('default/sgreen');
    }
  });
});
