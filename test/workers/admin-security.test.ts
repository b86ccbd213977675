/** Refusals: unsigned, wrong-cluster, expired, replayed and forged agent calls, and operator calls without the token. */
import { afterAll, beforeAll, expect, it } from 'vitest';
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

it.each([
  ['no Authorization header', undefined],
  ['a wrong token', 'Bearer wrong-token-wrong-token-wrong'],
  ['the token with a different scheme', `Basic test-admin-token-0123456789abcdef`],
  ['an agent key as token', `Bearer ${AGENT_KEYS['aws-use1']}`],
])('refuses operator calls with %s (401) and changes nothing', async (_label, authorization) => {
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
  ]) {
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('test-admin-token');
  }
  await unchanged();
});

it('refuses an unsigned push (401)', async () => {
  const res = await h.call('/agent/endpoints', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-edgeway-cluster': 'aws-use1' },
    body: JSON.stringify(report('aws-use1', 9)),
  });
  expect(res.status).toBe(401);
  await unchanged();
});

it('refuses a push signed with the wrong key or for an unknown cluster (401)', async () => {
  expect((await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { secret: AGENT_KEYS['gcp-euw1'] })).response.status).toBe(
    401,
  );
  expect((await h.agent('rogue', '/agent/endpoints', report('rogue', 9))).response.status).toBe(401);
  await unchanged();
});

it('refuses a cluster writing another cluster’s endpoints (403)', async () => {
  // gcp-euw1 signs correctly but claims aws-use1's endpoints, then smuggles one into its own report.
  const claim = await h.agent('gcp-euw1', '/agent/endpoints', report('aws-use1', 9));
  expect(claim.response.status).toBe(403);
  const smuggled = report('gcp-euw1', 1);
  smuggled.endpoints.push({ ...report('aws-use1', 9).endpoints[0]! });
  expect((await h.agent('gcp-euw1', '/agent/endpoints', smuggled)).response.status).toBe(403);
  await unchanged();
});

it('refuses pushes outside ±5 minutes (401)', async () => {
  expect((await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { now: Date.now() - 6 * 60_000 })).response.status).toBe(
    401,
  );
  expect((await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 9), { now: Date.now() + 6 * 60_000 })).response.status).toBe(
    401,
  );
  await unchanged();
});

it('refuses a replayed push (401) even though its signature is valid', async () => {
  const first = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 5));
  expect(first.response.status).toBe(200);
  baseline = await state();
  const replayed = await first.replay();
  expect(replayed.status).toBe(401);
  await unchanged();
});

it('refuses a valid signature reused with another body, path or cluster header (401)', async () => {
  const signed = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 7));
  expect(signed.response.status).toBe(200);
  baseline = await state();
  const send = (path: string, headers: Record<string, string>, body: string) =>
    h.call(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
  // Fresh nonce each time so only the tampering, not the replay check, can refuse these.
  const fresh = async () => ({ ...(await h.agent('aws-use1', '/agent/heartbeat', { cluster: 'aws-use1' })).headers });
  const a = await fresh();
  expect((await send('/agent/endpoints', a, JSON.stringify({ cluster: 'aws-use1' }))).status).toBe(401);
  baseline = await state();
  const b = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 7));
  baseline = await state();
  const tamperedBody = b.text.replace('"readyEndpoints":7', '"readyEndpoints":70');
  expect((await send('/agent/endpoints', { ...b.headers, 'x-edgeway-nonce': 'other-nonce' }, b.text)).status).toBe(401);
  expect(
    (await send('/agent/endpoints', { ...b.headers, 'x-edgeway-timestamp': String(Number(b.headers['x-edgeway-timestamp']) - 1) }, b.text))
      .status,
  ).toBe(401);
  expect((await send('/agent/endpoints', { ...b.headers, 'x-edgeway-cluster': 'gcp-euw1' }, b.text)).status).toBe(401);
  expect((await send('/agent/endpoints', b.headers, tamperedBody)).status).toBe(401);
  await unchanged();
});
