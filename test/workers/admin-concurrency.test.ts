/** Three agents pushing 100 updates each at once: the one writer loses none, and KV writes stay debounced. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Snapshot } from '../../src/schema/snapshot.js';
import { adminHarness, report, resources } from '../unit/admin/support/harness.js';

let h: Awaited<ReturnType<typeof adminHarness>>;
beforeAll(async () => {
  h = await adminHarness();
  expect(
    (await h.op('/resources', { method: 'PUT', json: { resources: resources() }, headers: { 'if-match': await h.etag() } })).status,
  ).toBe(200);
});
afterAll(() => h.stop());

it('keeps every cluster’s last report when three agents push 100 updates each concurrently', async () => {
  const clusters = ['aws-use1', 'gcp-euw1', 'azure-weu'];
  const started = Date.now();
  const agentLoop = async (cluster: string) => {
    // Each agent sends its updates in order (as the agent does), all three agents at the same time.
    for (let n = 1; n <= 100; n++) {
      const { response } = await h.agent(cluster, '/agent/endpoints', report(cluster, n));
      expect(response.status).toBe(200);
    }
  };
  await Promise.all(clusters.map(agentLoop));

  const snap = Snapshot.parse(await (await h.op('/snapshot')).json());
  const blue = snap.backends.find((b) => b.metadata.name === 'blue')!;
  expect(blue.spec.endpoints.map((e) => [e.owner, e.readyEndpoints]).sort()).toEqual(clusters.map((c) => [c, 100]).sort());

  // What KV ends up with is the same merged state, and the pointer moved at most about once per second.
  const { snapshot } = await h.kvSnapshot(snap.version);
  expect(snapshot).toEqual(snap);
  const written = (await h.kv.list({ prefix: 'snapshot:v' })).keys.length;
  const seconds = Math.ceil((Date.now() - started) / 1000);
  expect(written).toBeLessThanOrEqual(seconds + 2);
  expect(snap.version).toBeGreaterThanOrEqual(300);
});

it('sync withdraws what a cluster no longer reports; upsert-only never does', async () => {
  const two = report('aws-use1', 1);
  two.endpoints.push({ ...two.endpoints[0]!, url: 'https://aws-use1-b.ingress.example.com' });
  expect((await h.agent('aws-use1', '/agent/endpoints', two)).response.status).toBe(200);
  const count = async () =>
    Snapshot.parse(await (await h.op('/snapshot')).json())
      .backends.find((b) => b.metadata.name === 'blue')!
      .spec.endpoints.filter((e) => e.owner === 'aws-use1').length;
  expect(await count()).toBe(2);
  expect((await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 1, 'upsert-only'))).response.status).toBe(200);
  expect(await count()).toBe(2);
  expect((await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 1, 'sync'))).response.status).toBe(200);
  expect(await count()).toBe(1);
});
