/** plan(desired, current, policy): the pure diff the agent applies only when something changed. */
import { describe, expect, it } from 'vitest';
import type { ReportedEndpoint } from '../../../src/admin/api.js';
import { plan } from '../../../src/agent/plan.js';
import { backoffDelay } from '../../../src/agent/backoff.js';

const ep = (name: string, url: string, extra: Partial<ReportedEndpoint> = {}): ReportedEndpoint => ({
  backend: { namespace: 'default', name },
  url,
  cluster: 'c1',
  priority: 0,
  weight: 1,
  readyEndpoints: 2,
  ...extra,
});
const A = ep('web', 'https://a.example.com');
const B = ep('web', 'https://b.example.com');
const urls = (l: ReportedEndpoint[]) => l.map((e) => e.url);

describe('plan', () => {
  it('reports everything when the edge state is unknown', () => {
    const p = plan([B, A], null, 'sync');
    expect(p.changed).toBe(true);
    expect(urls(p.report)).toEqual(['https://a.example.com', 'https://b.example.com']);
  });
  it('changes nothing when desired equals current, whatever the order or undefined fields', () => {
    const p = plan([B, A], [A, { ...B, hostHeader: undefined }], 'sync');
    expect(p).toMatchObject({ changed: false, upserts: [], withdrawals: [] });
  });
  it('detects a changed field as an upsert', () => {
    const p = plan([A, { ...B, readyEndpoints: 0 }], [A, B], 'sync');
    expect(p.changed).toBe(true);
    expect(urls(p.upserts)).toEqual(['https://b.example.com']);
  });
  it('sync withdraws what is no longer exposed and reports the full set', () => {
    const p = plan([A], [A, B], 'sync');
    expect(p.changed).toBe(true);
    expect(urls(p.withdrawals)).toEqual(['https://b.example.com']);
    expect(urls(p.report)).toEqual(['https://a.example.com']);
    expect(urls(p.next)).toEqual(['https://a.example.com']);
  });
  it('upsert-only never withdraws: a removal alone is no change, and the edge keeps it', () => {
    const removal = plan([A], [A, B], 'upsert-only');
    expect(removal.changed).toBe(false);
    expect(urls(removal.next)).toEqual(['https://a.example.com', 'https://b.example.com']);
    const C = ep('api', 'https://c.example.com');
    const add = plan([A, C], [A, B], 'upsert-only');
    expect(add.changed).toBe(true);
    expect(urls(add.report)).toEqual(['https://c.example.com']);
    expect(urls(add.next).sort()).toEqual(['https://a.example.com', 'https://b.example.com', 'https://c.example.com']);
  });
  it('keys endpoints by backend and URL', () => {
    const p = plan([ep('api', A.url)], [A], 'sync');
    expect(p.upserts.map((e) => e.backend.name)).toEqual(['api']);
    expect(p.withdrawals.map((e) => e.backend.name)).toEqual(['web']);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, jittered between half and all of it', () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 1000, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 1000, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });
});
