/** Traffic metrics in workerd: counted by the gateway, flushed in the background to MetricsDO, read as JSON and Prometheus text. */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { op, publish, sleep, stack, traffic } from './rollout-support.js';

interface Series {
  route: string;
  rule: string;
  backend: string;
  cluster: string;
  requests: number;
  responses: Record<string, number>;
  latency: { p99Ms: number | null; counts: number[] };
}

async function seriesOf(route: string): Promise<Series[]> {
  const res = await op(`/metrics?route=${encodeURIComponent(route)}&minutes=5`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { series: Series[] }).series;
}

// One Prometheus text-format sample line: name, optional labels with escaped values, a number.
const SAMPLE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?|\+Inf|NaN)$/;

describe('traffic metrics', () => {
  it('counts per rule, backendRef and cluster, and serves JSON and Prometheus text', async () => {
    expect((await publish(stack('metered', null, { stable: 1, canary: 1 }, 'euw1'))).status).toBe(200);
    const sent = [
      ...(await traffic('metered.example.com', '/_status/200', 20)),
      ...(await traffic('metered.example.com', '/_status/503', 10)),
    ];
    let series: Series[] = [];
    // The isolate flushes at most once a second, from a request: keep a trickle going until everything has arrived.
    for (let i = 0; i < 40; i++) {
      await sleep(300);
      sent.push(...(await traffic('metered.example.com', '/_status/200', 1)));
      series = await seriesOf('default/metered');
      if (series.reduce((n, s) => n + s.requests, 0) >= 30) break;
    }
    const total = series.reduce((n, s) => n + s.requests, 0);
    expect(total).toBeGreaterThanOrEqual(30);
    expect(total).toBeLessThanOrEqual(sent.length);
    const canary = series.find((s) => s.backend === 'default/metered-canary')!;
    expect(canary).toMatchObject({ route: 'default/metered', rule: 'main', cluster: 'euw1' });
    // The canary passes the client's path (/_status/503 answers 503); the stable always gets /ok.
    expect(canary.responses['5xx']).toBeGreaterThan(0);
    const stableSeries = series.find((s) => s.backend === 'default/metered-stable')!;
    expect(stableSeries.responses['5xx']).toBe(0);
    expect(stableSeries.cluster).toBe('blue');
    expect(stableSeries.latency.p99Ms).not.toBeNull();

    const prom = await op('/metrics/prometheus');
    expect(prom.status).toBe(200);
    expect(prom.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await prom.text();
    const lines = text.trimEnd().split('\n');
    for (const line of lines) if (!line.startsWith('#')) expect(line).toMatch(SAMPLE);
    expect(text).toMatch(/^# TYPE edgeway_requests_total counter$/m);
    expect(text).toMatch(
      /^edgeway_requests_total\{route="default\/metered",rule="main",backend="default\/metered-canary",cluster="euw1",code="5xx"\} \d+$/m,
    );
    // Histogram buckets are cumulative and end in +Inf = _count.
    const buckets = lines
      .filter((l) =>
        l.startsWith('edgeway_request_duration_seconds_bucket{route="default/metered",rule="main",backend="default/metered-stable"'),
      )
      .map((l) => Number(l.split(' ')[1]));
    expect(buckets.length).toBeGreaterThan(2);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
    const count = lines.find((l) =>
      l.startsWith('edgeway_request_duration_seconds_count{route="default/metered",rule="main",backend="default/metered-stable"'),
    )!;
    expect(Number(count.split(' ')[1])).toBe(buckets.at(-1));
    // No per-path or per-client labels.
    expect(text).not.toMatch(/_status|path=|client/);
  }, 30_000);

  it('requires the operator token', async () => {
    for (const path of ['/metrics/prometheus', '/metrics?route=default/metered', '/rollouts']) {
      const res = await SELF.fetch(`http://gateway.test/_edgeway/v1${path}`);
      expect(res.status).toBe(401);
      const wrong = await SELF.fetch(`http://gateway.test/_edgeway/v1${path}`, {
        headers: { authorization: 'Bearer nope-nope-nope-nope-nope' },
      });
      expect(wrong.status).toBe(401);
    }
  });

  it('refuses hostile query parameters with 400 and never echoes them into a metrics object name', async () => {
    for (const q of [
      'route=../../etc',
      'route=default/a%22b',
      'route=default%2Fa%0Ab',
      `route=default/${'a'.repeat(400)}`,
      'route=a/b/c',
      'minutes=0',
      'minutes=61',
      'minutes=abc',
      'minutes=1e9',
      'route=default/x&debug=1',
    ]) {
      const res = await op(`/metrics?${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid request');
    }
    // A well-formed route nobody serves is an empty answer, not an error.
    const empty = await op('/metrics?route=default/never&minutes=1');
    expect(empty.status).toBe(200);
    expect(((await empty.json()) as { series: unknown[] }).series).toEqual([]);
  });
});
