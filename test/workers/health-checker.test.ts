/** HealthCheckerDO inside workerd: probes over loopback, hysteresis across alarms, safe re-arming, stopping. */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { HealthCheckerDO, setProbeFetch } from '../../src/health/durable-object.js';
import { Backend, type Backend as BackendT } from '../../src/schema/backend.js';
import type { HealthSnapshot } from '../../src/health.js';

const ns = () => (env as unknown as { HEALTH: DurableObjectNamespace<HealthCheckerDO> }).HEALTH;
const up = (name: string) => `http://127.0.0.1:${inject('upstreams')[name]}`;
const refused = () => `http://127.0.0.1:${inject('refusedPort')}`;

let n = 0;
function backend(endpoints: { url: string; cluster: string; hostHeader?: string }[], active?: Record<string, unknown>): BackendT {
  return Backend.parse({
    apiVersion: 'edgeway.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name: `b${++n}`, namespace: 'hc' },
    spec: { endpoints, ...(active ? { healthCheck: { active } } : {}) },
  });
}
const stubFor = (b: BackendT) => ns().get(ns().idFromName(`${b.metadata.namespace}/${b.metadata.name}`));
const byCluster = (s: HealthSnapshot) => Object.fromEntries(s.endpoints.map((e) => [e.cluster, e]));

afterEach(() => {
  setProbeFetch(undefined);
  vi.restoreAllMocks();
});

describe('HealthCheckerDO', () => {
  it('configure arms an alarm; the alarm probes, classifies and re-arms (half an interval while one is unhealthy)', async () => {
    const b = backend(
      [
        { url: up('blue'), cluster: 'blue' },
        { url: refused(), cluster: 'dead' },
      ],
      { interval: '30s', timeout: '1s' },
    );
    const stub = stubFor(b);
    const configured = await stub.configure(b);
    expect(configured.active).toBe(true);
    expect(configured.nextAlarmAt).not.toBeNull();
    expect(configured.endpoints.map((e) => e.state)).toEqual(['unknown', 'unknown']);

    const before = Date.now();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const s = await stub.snapshot();
    const eps = byCluster(s);
    expect(eps.blue).toMatchObject({ state: 'healthy', lastProbe: { status: 200 }, counters: { probes: 1, failures: 0, stateChanges: 1 } });
    expect(eps.dead!.state).toBe('unhealthy');
    // workerd throws "Network connection lost"; through miniflare's outbound hook a refusal arrives as a 5xx.
    expect(eps.dead!.lastProbe!.error === 'connect-failure' || eps.dead!.lastProbe!.status! >= 500).toBe(true);
    expect(eps.dead!.reason).toContain('first probe failed');
    expect(eps.blue!.key).toBe(`hc/${b.metadata.name}|${up('blue')}|blue`);
    expect(s.nextAlarmAt).toBeGreaterThanOrEqual(before + 15_000);
    expect(s.nextAlarmAt).toBeLessThanOrEqual(Date.now() + 15_000);
  });

  it('a status outside expectedStatuses fails and a hung endpoint times out', async () => {
    const b = backend([{ url: up('green'), cluster: 'green' }], { path: '/_status/503', interval: '30s', timeout: '1s' });
    const stub = stubFor(b);
    await stub.configure(b);
    await runDurableObjectAlarm(stub);
    expect(byCluster(await stub.snapshot()).green).toMatchObject({ state: 'unhealthy', lastProbe: { status: 503 } });
    expect(byCluster(await stub.snapshot()).green!.reason).toContain('status 503 not in [200]');

    const slow = backend([{ url: up('euw1'), cluster: 'euw1' }], { path: '/_sleep/3000', interval: '30s', timeout: '200ms' });
    const stub2 = stubFor(slow);
    await stub2.configure(slow);
    await runDurableObjectAlarm(stub2);
    expect(byCluster(await stub2.snapshot()).euw1).toMatchObject({ state: 'unhealthy', lastProbe: { error: 'timeout' } });
  });

  it('applies hysteresis across alarms and logs each change once with its reason', async () => {
    let target = up('usw2');
    setProbeFetch((input, init) => fetch(String(input).replace(/127\.0\.0\.1:\d+/, target.slice('http://'.length)), init));
    const logs: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(String(line)));
    const b = backend([{ url: up('usw2'), cluster: 'usw2' }], {
      interval: '10s',
      timeout: '500ms',
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    });
    const stub = stubFor(b);
    await stub.configure(b);
    await runDurableObjectAlarm(stub); // consume the first alarm so the runtime doesn't fire one mid-test
    const states: string[] = [];
    const tick = async () => {
      // A redelivered alarm too close to the last round is skipped, so move the last round back an interval.
      await runInDurableObject(stub, (instance: HealthCheckerDO) => {
        const stored = (instance as unknown as { stored: { lastRoundAt?: number } }).stored;
        if (stored.lastRoundAt !== undefined) stored.lastRoundAt -= 10_000;
        return instance.alarm();
      });
      states.push(byCluster(await stub.snapshot()).usw2!.state);
    };
    states.push(byCluster(await stub.snapshot()).usw2!.state); // healthy
    target = refused();
    await tick();
    // Part-way to a threshold: the next round comes after half an interval to confirm sooner.
    expect((await stub.snapshot()).nextAlarmAt).toBeLessThanOrEqual(Date.now() + 5000);
    await tick(); // 2 failures: still healthy
    target = up('usw2');
    await tick(); // success resets
    target = refused();
    await tick();
    await tick();
    await tick(); // 3rd consecutive failure: unhealthy
    target = up('usw2');
    await tick(); // 1 success: still unhealthy
    await tick(); // 2nd: healthy
    expect(states).toEqual(['healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'unhealthy', 'unhealthy', 'healthy']);
    const changes = logs.map((l) => JSON.parse(l)).filter((l) => l.event === 'health.active.change');
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(['unknown->healthy', 'healthy->unhealthy', 'unhealthy->healthy']);
    expect(changes[1]).toMatchObject({ backend: `hc/${b.metadata.name}`, reason: expect.stringContaining('3 consecutive failed probes') });
    expect(changes[2].reason).toBe('2 consecutive passed probes');
    expect(byCluster(await stub.snapshot()).usw2!.counters).toEqual({ probes: 9, failures: 5, stateChanges: 3 });
  });

  it('a redelivered alarm neither probes twice nor stacks a second schedule', async () => {
    const b = backend([{ url: up('use1'), cluster: 'use1' }], { interval: '10s', timeout: '1s' });
    const stub = stubFor(b);
    await stub.configure(b);
    const before = Date.now();
    await runDurableObjectAlarm(stub);
    const first = await stub.snapshot();
    // All healthy: the next round is one full interval after this one started.
    expect(first.nextAlarmAt).toBeGreaterThanOrEqual(before + 10_000);
    expect(first.nextAlarmAt).toBeLessThanOrEqual(Date.now() + 10_000);
    await runInDurableObject(stub, (instance: HealthCheckerDO) => instance.alarm()); // at-least-once redelivery
    const second = await stub.snapshot();
    expect(second.endpoints[0]!.counters.probes).toBe(1);
    expect(second.nextAlarmAt).toBe(first.nextAlarmAt);
    // configure again (e.g. another isolate) does not push the alarm later or add another.
    await stub.configure(b);
    expect((await stub.snapshot()).nextAlarmAt).toBeLessThanOrEqual(first.nextAlarmAt!);
  });

  it('a probe whose fetch throws counts as a failure and the alarm is re-armed', async () => {
    setProbeFetch(() => {
      throw new Error('boom');
    });
    const b = backend([{ url: up('use1'), cluster: 'use1' }], { interval: '30s', timeout: '1s' });
    const stub = stubFor(b);
    await stub.configure(b);
    await runDurableObjectAlarm(stub);
    const s = await stub.snapshot();
    expect(s.nextAlarmAt).not.toBeNull();
    expect(s.endpoints[0]!.lastProbe?.error).toBe('error');
  });

  it('sync keeps state when nothing changed and reconfigures when endpoints change', async () => {
    const b = backend([{ url: up('blue'), cluster: 'blue' }], { interval: '30s', timeout: '1s' });
    const stub = stubFor(b);
    await stub.configure(b);
    await runDurableObjectAlarm(stub);
    expect((await stub.sync(b)).endpoints[0]).toMatchObject({ state: 'healthy' });
    const grown = {
      ...b,
      spec: { ...b.spec, endpoints: [...b.spec.endpoints, { ...b.spec.endpoints[0]!, url: up('green'), cluster: 'green' }] },
    };
    const s = await stub.sync(grown);
    expect(s.endpoints.map((e) => [e.cluster, e.state])).toEqual([
      ['blue', 'healthy'],
      ['green', 'unknown'],
    ]);
  });

  it('sends the configured Host while connecting to the endpoint', async () => {
    const hosts: string[] = [];
    setProbeFetch(async (input, init) => {
      const res = await fetch(input, init);
      hosts.push(((await res.clone().json()) as { headers: { host: string } }).headers.host);
      return res;
    });
    const b = backend([{ url: up('blue'), cluster: 'blue', hostHeader: 'api.internal.example.com' }], { interval: '30s', timeout: '1s' });
    const stub = stubFor(b);
    await stub.configure(b);
    await runDurableObjectAlarm(stub);
    expect(hosts).toEqual([`api.internal.example.com:${inject('upstreams').blue}`]);
  });

  it('stops (no alarm, no storage) when configured without an active check', async () => {
    const b = backend([{ url: up('blue'), cluster: 'blue' }], { interval: '30s', timeout: '1s' });
    const stub = stubFor(b);
    await stub.configure(b);
    const off = await stub.configure({ ...b, spec: { ...b.spec, healthCheck: {} } });
    expect(off).toMatchObject({ active: false, nextAlarmAt: null, endpoints: [] });
    const keys = await runInDurableObject(stub, async (_i, state) => [...(await state.storage.list()).keys()]);
    expect(keys).toEqual([]);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });
});
