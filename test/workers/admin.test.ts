/** Admin API: publish with ETag/If-Match, the blue/green weights switch, rollback, invalid bodies, KV snapshot writes. */
import { SELF } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Snapshot } from '../../src/schema/snapshot.js';
import { adminHarness, report, resources } from '../unit/admin/support/harness.js';

let h: Awaited<ReturnType<typeof adminHarness>>;
beforeAll(async () => {
  h = await adminHarness();
});
afterAll(() => h.stop());

const weightsOf = (snap: Snapshot) => snap.routes[0]!.spec.rules[0]!.backendRefs!.map((r) => [r.name, r.weight]);

describe('admin API', () => {
  it('publishes with If-Match, serves the snapshot with its version as ETag, and refuses a stale If-Match with 412', async () => {
    const first = await h.op('/snapshot');
    const tag = first.headers.get('etag')!;
    expect(tag).toMatch(/^"\d+"$/);

    const missing = await h.op('/resources', { method: 'PUT', json: { resources: resources() } });
    expect(missing.status).toBe(428);

    const ok = await h.op('/resources', { method: 'PUT', json: { resources: resources() }, headers: { 'if-match': tag } });
    expect(ok.status).toBe(200);
    const { version } = (await ok.json()) as { version: number };
    expect(ok.headers.get('etag')).toBe(`"${version}"`);

    const got = await h.op('/snapshot');
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe(`"${version}"`);
    const snap = Snapshot.parse(await got.json());
    expect(snap.version).toBe(version);
    expect(snap.routes.map((r) => r.metadata.name)).toEqual(['shop']);

    // Someone else publishes in between: the old ETag now conflicts and nothing changes.
    const again = await h.op('/resources', {
      method: 'PUT',
      json: { resources: resources(50, 50) },
      headers: { 'if-match': `"${version}"` },
    });
    expect(again.status).toBe(200);
    const stale = await h.op('/resources', {
      method: 'PUT',
      json: { resources: resources(0, 100) },
      headers: { 'if-match': `"${version}"` },
    });
    expect(stale.status).toBe(412);
    const after = Snapshot.parse(await (await h.op('/snapshot')).json());
    expect(weightsOf(after)).toEqual([
      ['blue', 50],
      ['green', 50],
    ]);

    // The KV pointer follows: snapshot:vN written and readable before the pointer names it.
    const { pointer, snapshot } = await h.kvSnapshot(after.version);
    expect(pointer.key).toBe(`snapshot:v${pointer.version}`);
    expect(weightsOf(snapshot)).toEqual(weightsOf(after));
  });

  it('agent pushes between operator reads do not make If-Match conflict', async () => {
    const tag = await h.etag();
    const push = await h.agent('aws-use1', '/agent/endpoints', report('aws-use1', 3));
    expect(push.response.status).toBe(200);
    expect(((await push.response.json()) as { changed: boolean }).changed).toBe(true);
    const res = await h.op('/resources', { method: 'PUT', json: { resources: resources(50, 50) }, headers: { 'if-match': tag } });
    expect(res.status).toBe(200);
    const snap = Snapshot.parse(await (await h.op('/snapshot')).json());
    const blue = snap.backends.find((b) => b.metadata.name === 'blue')!;
    expect(blue.spec.endpoints).toEqual([
      expect.objectContaining({ url: 'https://aws-use1.ingress.example.com', owner: 'aws-use1', readyEndpoints: 3 }),
    ]);
  });

  it('switches blue/green weights in one call and rolls back to an earlier version', async () => {
    const before = Snapshot.parse(await (await h.op('/snapshot')).json());
    const sw = await h.op('/weights', {
      method: 'POST',
      json: {
        namespace: 'default',
        route: 'shop',
        rule: 'main',
        backends: [
          { name: 'blue', weight: 0 },
          { name: 'green', weight: 100 },
        ],
      },
    });
    expect(sw.status).toBe(200);
    const switched = Snapshot.parse(await (await h.op('/snapshot')).json());
    expect(weightsOf(switched)).toEqual([
      ['blue', 0],
      ['green', 100],
    ]);

    const unknown = await h.op('/weights', { method: 'POST', json: { route: 'shop', rule: 0, backends: [{ name: 'red', weight: 1 }] } });
    expect(unknown.status).toBe(400);
    const missingRoute = await h.op('/weights', {
      method: 'POST',
      json: { route: 'nope', rule: 0, backends: [{ name: 'blue', weight: 1 }] },
    });
    expect(missingRoute.status).toBe(404);

    const rb = await h.op('/rollback', { method: 'POST', json: { version: before.version } });
    expect(rb.status).toBe(200);
    const rolled = Snapshot.parse(await (await h.op('/snapshot')).json());
    expect(rolled.version).toBeGreaterThan(switched.version);
    expect(weightsOf(rolled)).toEqual(weightsOf(before));
    // Endpoints are live state, not history: the rollback keeps what agents report now.
    expect(rolled.backends.find((b) => b.metadata.name === 'blue')!.spec.endpoints).toHaveLength(1);

    const versions = (await (await h.op('/versions')).json()) as { version: number; reason: string }[];
    expect(versions.at(-1)!.reason).toBe(`rollback to ${before.version}`);
    expect((await h.op('/rollback', { method: 'POST', json: { version: 100_000 } })).status).toBe(404);
  });

  it('answers an invalid body with 400 listing every issue, and changes nothing', async () => {
    const before = await h.op('/snapshot');
    const tag = before.headers.get('etag')!;
    const bad = resources();
    (bad[0] as { spec: { hostnames: string[] } }).spec.hostnames = ['Not A Host'];
    (bad[1] as { metadata: { name: string } }).metadata.name = 'UPPER';
    const res = await h.op('/resources', { method: 'PUT', json: { resources: bad }, headers: { 'if-match': tag } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; issues: { path: string; message: string }[] };
    const paths = body.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['resources.0.spec.hostnames.0', 'resources.1.metadata.name']));

    // A backendRef to a missing Backend is only a warning (Gateway API: the route stays accepted); a duplicate
    // resource is still a cross-document error.
    const duplicated = [...resources(), resources()[2]!];
    const refs = await h.op('/resources', { method: 'PUT', json: { resources: duplicated }, headers: { 'if-match': tag } });
    expect(refs.status).toBe(400);
    const refBody = (await refs.json()) as { issues: { path: string; message: string }[] };
    expect(refBody.issues[0]!.message).toMatch(/duplicate Backend default\/green/);

    const malformed = await h.op('/resources', {
      method: 'PUT',
      body: '{"resources": [',
      headers: { 'content-type': 'application/json', 'if-match': tag },
    });
    expect(malformed.status).toBe(400);
    const after = await h.op('/snapshot');
    expect(after.headers.get('etag')).toBe(tag);
  });

  it('refuses unknown fields like `edgeway validate` does: `matchs` is a 400 naming the field, nothing is published', async () => {
    const tag = (await h.op('/snapshot')).headers.get('etag')!;
    const typo = resources();
    const rule = (typo[0] as { spec: { rules: Record<string, unknown>[] } }).spec.rules[0]!;
    rule.matchs = [{ path: { type: 'PathPrefix', value: '/admin' } }];
    (typo[1] as { metadata: Record<string, unknown> }).metadata.namespce = 'payments';
    (typo[2] as { spec: { endpoints: Record<string, unknown>[] } }).spec.endpoints[0]!.wieght = 5;
    const res = await h.op('/resources', { method: 'PUT', json: { resources: typo }, headers: { 'if-match': tag } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; issues: { path: string; message: string; index?: number }[] };
    expect(body.issues).toEqual([
      { index: 0, path: 'resources.0.spec.rules.0.matchs', message: 'unknown field "matchs"' },
      { index: 1, path: 'resources.1.metadata.namespce', message: 'unknown field "namespce"' },
      { index: 2, path: 'resources.2.spec.endpoints.0.wieght', message: 'unknown field "wieght"' },
    ]);
    expect((await h.op('/snapshot')).headers.get('etag')).toBe(tag);
  });

  it('accepts the metadata kubectl exports (uid, resourceVersion, ...) and the clusters field', async () => {
    const tag = (await h.op('/snapshot')).headers.get('etag')!;
    const exported = resources();
    Object.assign((exported[1] as { metadata: Record<string, unknown> }).metadata, { uid: 'abc', resourceVersion: '42', generation: 3 });
    const res = await h.op('/resources', { method: 'PUT', json: { resources: exported }, headers: { 'if-match': tag } });
    expect(res.status).toBe(200);
  });

  it('lists clusters with their last heartbeat', async () => {
    const hb = await h.agent('gcp-euw1', '/agent/heartbeat', { cluster: 'gcp-euw1', agentVersion: '0.1.0' });
    expect(hb.response.status).toBe(200);
    const clusters = (await (await h.op('/clusters')).json()) as { cluster: string; lastHeartbeat: string; stale: boolean }[];
    const gcp = clusters.find((c) => c.cluster === 'gcp-euw1')!;
    expect(gcp.stale).toBe(false);
    expect(Date.parse(gcp.lastHeartbeat)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('serves its OpenAPI document', async () => {
    const res = await h.call('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/snapshot', '/resources', '/weights', '/rollback', '/clusters', '/agent/endpoints']),
    );
  });
});

describe('mounted in the Worker (src/index.ts)', () => {
  it('serves the admin API under /_edgeway/v1 and refuses operator calls without the token', async () => {
    const doc = await SELF.fetch('https://edge.test/_edgeway/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect(((await doc.json()) as { servers: { url: string }[] }).servers[0]!.url).toBe('/_edgeway/v1');
    expect((await SELF.fetch('https://edge.test/_edgeway/v1/snapshot')).status).toBe(401);
    const put = await SELF.fetch('https://edge.test/_edgeway/v1/resources', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-match': '*' },
      body: JSON.stringify({ resources: resources() }),
    });
    expect(put.status).toBe(401);
    const push = await SELF.fetch('https://edge.test/_edgeway/v1/agent/endpoints', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(report('aws-use1', 1)),
    });
    expect(push.status).toBe(401);
  });
});
