/**
 * Environments (issue #16): agents and operators are bound to one environment. The production worker here runs with
 * wrangler.toml's top-level bindings, as every workerd test does (no EDGEWAY_AUDIENCE: the request host is the
 * audience); the staging one with [env.staging]'s audience and its own operator token. A staging agent's signature,
 * fresh or replayed, is refused by production even on the same hostname, and the other way round.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminEnv } from '../../src/admin/env.js';
import { adminHarness, report, resources } from '../unit/admin/support/harness.js';

/** wrangler.toml's [env.staging.vars] EDGEWAY_AUDIENCE (test/unit/cli/environments.test.ts pins the value). */
const STAGING_AUDIENCE = 'edgeway-staging';
/** Each environment has its own secrets (`wrangler secret put ADMIN_TOKEN --env staging`). */
const STAGING_TOKEN = 'staging-admin-token-0123456789abcdef';
const PRODUCTION_TOKEN = 'test-admin-token-0123456789abcdef';

type Harness = Awaited<ReturnType<typeof adminHarness>>;
let production: Harness;
let staging: Harness;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const publish = (h: Harness, token: string) =>
  h.call('/resources', {
    method: 'PUT',
    headers: { ...bearer(token), 'content-type': 'application/json', 'if-match': '*' },
    body: JSON.stringify({ resources: resources() }),
  });

/** What an operator of that environment sees of its table and clusters. */
async function state(h: Harness, token: string) {
  const snapshot = await h.call('/snapshot', { headers: bearer(token) });
  const clusters = await h.call('/clusters', { headers: bearer(token) });
  return { etag: snapshot.headers.get('etag'), snapshot: await snapshot.text(), clusters: await clusters.text() };
}

beforeAll(async () => {
  // Production as configured: nothing overridden but the test secrets vitest.config.ts binds.
  expect((env as unknown as AdminEnv).EDGEWAY_AUDIENCE).toBeUndefined();
  production = await adminHarness({}, { memory: true });
  staging = await adminHarness({ EDGEWAY_AUDIENCE: STAGING_AUDIENCE, ADMIN_TOKEN: STAGING_TOKEN }, { memory: true });
  expect((await publish(production, PRODUCTION_TOKEN)).status).toBe(200);
  expect((await publish(staging, STAGING_TOKEN)).status).toBe(200);
});
afterAll(() => {
  production.stop();
  staging.stop();
});

describe('agents are bound to one environment', () => {
  it('production refuses a staging signature on the same hostname, fresh or replayed, and changes nothing', async () => {
    const push = () => report('aws-use1', 3);
    // A staging agent's push, accepted by staging.
    const signed = await staging.agent('aws-use1', '/agent/endpoints', push(), { tag: STAGING_AUDIENCE });
    expect(signed.response.status).toBe(200);

    const before = await state(production, PRODUCTION_TOKEN);
    // The same request replayed on production within the signature's window: production never saw its nonce, so
    // only the audience can refuse it.
    const replayed = await production.call('/agent/endpoints', {
      method: 'POST',
      headers: { ...signed.headers, 'content-type': 'application/json' },
      body: signed.text,
    });
    expect(replayed.status).toBe(401);
    expect(await replayed.text()).toBe('{"error":"unauthorized"}');
    // Fresh staging signatures, for production's own host (same key: clusters often keep theirs across environments).
    for (let i = 0; i < 2; i++) {
      const fresh = await production.agent('aws-use1', '/agent/endpoints', push(), { tag: STAGING_AUDIENCE });
      expect(fresh.response.status).toBe(401);
    }
    expect(await state(production, PRODUCTION_TOKEN)).toEqual(before);

    // The same agent signing for production (no tag: production's audience is its host) is accepted.
    const own = await production.agent('aws-use1', '/agent/endpoints', push());
    expect(own.response.status).toBe(200);
  });

  it('staging refuses a production signature (untagged) and any other audience; accepts its own', async () => {
    const before = await state(staging, STAGING_TOKEN);
    const untagged = await staging.agent('gcp-euw1', '/agent/endpoints', report('gcp-euw1', 2));
    expect(untagged.response.status).toBe(401);
    const other = await staging.agent('gcp-euw1', '/agent/endpoints', report('gcp-euw1', 2), { tag: 'edgeway-production' });
    expect(other.response.status).toBe(401);
    expect(await state(staging, STAGING_TOKEN)).toEqual(before);
    const own = await staging.agent('gcp-euw1', '/agent/endpoints', report('gcp-euw1', 2), { tag: STAGING_AUDIENCE });
    expect(own.response.status).toBe(200);
  });

  it('on separate hostnames, a staging signature sent to the production host is refused twice over', async () => {
    // Signed for the staging host with the staging tag, sent to production's host.
    const r = await production.agent(
      'azure-weu',
      '/agent/heartbeat',
      { cluster: 'azure-weu' },
      {
        signHost: 'staging.edge.test',
        tag: STAGING_AUDIENCE,
      },
    );
    expect(r.response.status).toBe(401);
    // Staging accepts it on its own host.
    const onStaging = await staging.agent(
      'azure-weu',
      '/agent/heartbeat',
      { cluster: 'azure-weu' },
      {
        host: 'staging.edge.test',
        tag: STAGING_AUDIENCE,
      },
    );
    expect(onStaging.response.status).toBe(200);
  });
});

describe('operators are bound to one environment', () => {
  it("each environment refuses the other's operator token", async () => {
    for (const [h, token] of [
      [production, STAGING_TOKEN],
      [staging, PRODUCTION_TOKEN],
    ] as const) {
      const res = await h.call('/snapshot', { headers: bearer(token) });
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('{"error":"unauthorized"}');
    }
    expect((await production.call('/snapshot', { headers: bearer(PRODUCTION_TOKEN) })).status).toBe(200);
    expect((await staging.call('/snapshot', { headers: bearer(STAGING_TOKEN) })).status).toBe(200);
  });
});
