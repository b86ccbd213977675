/** The demo's stand-in clusters: they answer as their cluster, go down and come back on the same port on command. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePaths } from '../../../src/cli/compile.js';
import { DEMO_SERVICES, startStandIns, type Demo } from '../../../src/cli/demo.js';

const specs = [
  { cluster: 'aws-us-east-1', cloud: 'aws', region: 'us-east-1', service: 'api', version: 'v1', port: 0 },
  { cluster: 'aws-us-east-1', cloud: 'aws', region: 'us-east-1', service: 'shop', version: 'green', port: 0 },
  { cluster: 'gcp-us-central1', cloud: 'gcp', region: 'us-central1', service: 'api', version: 'v1', port: 0 },
];

const json = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as unknown };
};

describe('demo stand-ins', () => {
  let demo: Demo;
  const port = (i: number) => demo.services[i]!.state.port;
  beforeAll(async () => {
    demo = await startStandIns(specs, 0);
  });
  afterAll(async () => {
    await demo?.dispose();
  });

  it('answer JSON naming their cluster and version, and a /healthz', async () => {
    expect(await json(`http://127.0.0.1:${port(1)}/cart`)).toEqual({
      status: 200,
      body: {
        cluster: 'aws-us-east-1',
        cloud: 'aws',
        region: 'us-east-1',
        service: 'shop',
        version: 'green',
        method: 'GET',
        path: '/cart',
        host: `127.0.0.1:${port(1)}`,
      },
    });
    expect(await json(`http://127.0.0.1:${port(2)}/healthz`)).toEqual({
      status: 200,
      body: { ok: true, cluster: 'gcp-us-central1', service: 'api' },
    });
  });

  it('take a whole cluster down (connections refused) and bring it back on the same ports', async () => {
    const before = [port(0), port(1)];
    const down = await json(`http://127.0.0.1:${demo.controlPort}/clusters/aws-us-east-1/down`, { method: 'POST' });
    expect(down.status).toBe(200);
    expect((down.body as { up: boolean }[]).map((s) => s.up)).toEqual([false, false]);
    await expect(fetch(`http://127.0.0.1:${before[0]}/`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    expect((await json(`http://127.0.0.1:${port(2)}/`)).status).toBe(200); // the other cluster is untouched

    expect((await json(`http://127.0.0.1:${demo.controlPort}/clusters/aws-us-east-1/up`)).status).toBe(200);
    expect([port(0), port(1)]).toEqual(before);
    expect(((await json(`http://127.0.0.1:${before[0]}/x`)).body as { cluster: string }).cluster).toBe('aws-us-east-1');
  });

  it('reject unknown clusters with the list of real ones', async () => {
    expect(await json(`http://127.0.0.1:${demo.controlPort}/clusters/azure-westeurope/down`, { method: 'POST' })).toEqual({
      status: 404,
      body: { error: 'no cluster azure-westeurope', clusters: ['aws-us-east-1', 'gcp-us-central1'] },
    });
  });
});

describe('demo wiring', () => {
  it('every endpoint in routes/ is a demo stand-in with the same cluster name, and every stand-in is used', async () => {
    const { resources } = await compilePaths(['routes']);
    const endpoints = resources.flatMap((r) => (r.kind === 'Backend' ? r.spec.endpoints.map((e) => `${e.url} ${e.cluster}`) : []));
    const standIns = DEMO_SERVICES.map((s) => `http://127.0.0.1:${s.port} ${s.cluster}`);
    expect([...new Set(endpoints)].sort()).toEqual([...standIns].sort());
  });
});
