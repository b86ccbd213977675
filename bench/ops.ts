/**
 * Where Edgeway's CPU goes inside the isolate, measured without wrk's noise: bench/ops-worker.ts runs one operation
 * (a runtime call, a real upstream fetch, or the gateway's pipeline cut after k stages) n times in ONE request of an
 * otherwise idle workerd, and workerd's CPU time (/proc) is read around the call. Used by `npm run bench` (section
 * 2, "In the isolate") and on its own: `npm run bench:ops` prints the tables; OPS_ONLY=<text> keeps matching
 * operations; OPS_PROFILE=pipeline:all prints a V8 profile of the pipeline instead; OPS_BASELINE=<saved ops bundle>
 * compares it with the current code (OPS_AB=op,op).
 */
import http from 'node:http';
import { join } from 'node:path';
import { CLIENT_IP, HOST, median } from './harness/production.js';
import { startProdWorkerd } from './harness/prod.js';
import { cleanupAll, freePort, installSignalHandlers, waitForPort } from './harness/procs.js';
import { analyse, withInspector, type CpuProfile } from './harness/profile.js';
import { startNginxUpstream } from './harness/servers.js';
import { ensureTools } from './harness/tools.js';
import type { IsolateOp, IsolateResult } from './harness/types.js';

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { host: HOST, 'cf-connecting-ip': CLIENT_IP, 'user-agent': 'wrk', accept: '*/*' },
        timeout: 120_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${path}: ${res.statusCode} ${body}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 120 s`)));
    req.on('error', reject);
    req.end();
  });
}

interface Listing {
  sync: Record<string, string>;
  fetch: Record<string, string>;
  pipeline: string[];
  stages: string[];
}

export interface IsolateOptions {
  rounds: number;
  /** CPU seconds a measured call should take (the kernel tick is 10 ms): 0.6x for runtime operations, 1.2x real fetches, 1.8x pipelines. */
  targetS: number;
  only?: string | undefined;
}

/** Measures every operation `rounds` times (interleaved) and derives per-stage costs. */
export async function isolateBreakdown(o: IsolateOptions): Promise<IsolateResult> {
  const tools = await ensureTools(['nginx']);
  if (!tools.nginx!.path) throw new Error(`nginx (the upstream) missing: ${tools.nginx!.missing}`);
  const upstream = await startNginxUpstream(tools.nginx!.path);
  const origin = `http://127.0.0.1:${upstream.port}`;
  const none = { file: '', bytes: 0, inputs: [], command: '' };
  const w = await startProdWorkerd([{ name: 'ops', kind: 'ops' }], origin, { bundle: none, tag: 'ops' });
  const port = w.ports.ops!;
  // workerd refuses a request holding too many pending timers: timer-making operations run in calls of 2000.
  const chunkOf = (op: string) => (/timeout|signal|race|pipeline/.test(op) ? 2000 : Infinity);
  const call = async (op: string, n: number) => {
    const c0 = w.cpuSeconds();
    const chunk = chunkOf(op);
    for (let done = 0; done < n; done += chunk) await get(port, `/?op=${encodeURIComponent(op)}&n=${Math.min(chunk, n - done)}`);
    const s = w.cpuSeconds() - c0;
    w.drainLog();
    return s;
  };
  try {
    const list = JSON.parse(await get(port, '/?op=list')) as Listing;
    const all = [...Object.keys(list.sync), ...Object.keys(list.fetch), ...list.pipeline].filter(
      (op) => !o.only || op.includes(o.only) || op === 'empty',
    );
    const perOp: Record<string, number[]> = {};
    const nOf: Record<string, number> = {};
    for (let r = 0; r < o.rounds; r++) {
      for (const op of all) {
        let n = nOf[op];
        if (n === undefined) {
          // Calibrate once: grow n until one call takes about targetS of CPU.
          // Pipelines get the longest calls: their per-call figure moves most with when the GC happens to run.
          const target = o.targetS * (op.startsWith('pipeline:') ? 1.8 : op in list.fetch ? 1.2 : 0.6);
          n = 500;
          let s = await call(op, n);
          while (s < target / 4 && n < 20_000_000) s = await call(op, (n *= 4));
          n = nOf[op] = Math.max(n, Math.ceil((n * target) / Math.max(s, 0.01)));
        }
        perOp[op] = [...(perOp[op] ?? []), ((await call(op, n)) * 1e6) / n];
      }
    }
    const empty = median(perOp.empty ?? [0]);
    const entry = (id: string, label: string, minus = 0): IsolateOp | null =>
      perOp[id] ? { id, label, us: median(perOp[id]!) - minus, rounds: perOp[id]!.map((x) => x - minus) } : null;
    const sync = Object.entries(list.sync)
      .filter(([id]) => id !== 'empty')
      .map(([id, label]) => entry(id, label, empty))
      .filter((x): x is IsolateOp => x !== null);
    const fetches = Object.entries(list.fetch)
      .map(([id, label]) => entry(id, label))
      .filter((x): x is IsolateOp => x !== null);
    const pipeline = list.pipeline.map((id) => entry(id, id)).filter((x): x is IsolateOp => x !== null);
    // Stage k costs pipeline:(k+1) minus pipeline:k; the last stage (forward, stub fetch) is pipeline:all minus the one before.
    const at = (k: number) => (k === list.stages.length ? perOp['pipeline:all'] : perOp[`pipeline:${k}`]);
    const stages = list.stages.flatMap((stage, k) => {
      const a = at(k);
      const b = at(k + 1);
      if (!a || !b) return [];
      return [{ stage, us: median(b) - median(a), rounds: b.map((x, i) => x - (a[i] ?? Number.NaN)) }];
    });
    return { rounds: o.rounds, sync, fetch: fetches, pipeline, stages };
  } finally {
    await w.stop();
    await upstream.proc.stop();
  }
}

/** V8's sampling profiler over n runs of one operation: where its time goes, function by function. */
async function profileOp(op: string, n: number): Promise<void> {
  const tools = await ensureTools(['nginx']);
  const upstream = await startNginxUpstream(tools.nginx!.path!);
  const inspectorPort = await freePort();
  const none = { file: '', bytes: 0, inputs: [], command: '' };
  const w = await startProdWorkerd([{ name: 'ops', kind: 'ops' }], `http://127.0.0.1:${upstream.port}`, {
    bundle: none,
    inspectorPort,
    tag: 'ops-profile',
  });
  const port = w.ports.ops!;
  try {
    await waitForPort(inspectorPort, 10_000);
    await get(port, `/?op=${encodeURIComponent(op)}&n=2000&quiet`);
    const result = await withInspector(`ws://127.0.0.1:${inspectorPort}/ops`, async (send) => {
      await send('Profiler.enable');
      await send('Profiler.setSamplingInterval', { interval: 100 });
      await send('Profiler.start');
      for (let done = 0; done < n; done += 2000) await get(port, `/?op=${encodeURIComponent(op)}&n=2000&quiet`);
      const { profile } = (await send('Profiler.stop')) as { profile: CpuProfile };
      const bundle = { file: join(process.cwd(), '.bench-tmp', 'prod', 'bundles', 'ops.js'), bytes: 0, inputs: [], command: '' };
      return analyse(profile, bundle, n);
    });
    console.log(`${op}: ${result.busyUsPerRequest.toFixed(1)} µs busy per run`);
    for (const f of result.byFile.slice(0, 20)) console.log(`${f.usPerRequest.toFixed(2).padStart(8)} µs  ${f.file}`);
    console.log('');
    for (const f of result.topFunctions) console.log(`${f.usPerRequest.toFixed(2).padStart(8)} µs  ${f.fn}`);
  } finally {
    await w.stop();
    await upstream.proc.stop();
  }
}

/**
 * A/B: the current ops worker against a saved bundle of an earlier one (OPS_BASELINE=<file>, e.g. a copy of
 * .bench-tmp/prod/bundles/ops.js from before a change), both in one workerd, calls alternating, CPU from /proc per
 * call (each Worker is idle while the other runs).
 */
async function compare(baseline: string, ops: string[], rounds: number, targetS: number): Promise<void> {
  const tools = await ensureTools(['nginx']);
  const upstream = await startNginxUpstream(tools.nginx!.path!);
  const none = { file: '', bytes: 0, inputs: [], command: '' };
  const w = await startProdWorkerd(
    [
      { name: 'base', kind: 'ops', bundleFile: baseline },
      { name: 'cur', kind: 'ops' },
    ],
    `http://127.0.0.1:${upstream.port}`,
    { bundle: none, tag: 'ops-ab' },
  );
  try {
    const call = async (who: string, op: string, n: number) => {
      const c0 = w.cpuSeconds();
      for (let done = 0; done < n; done += 2000) await get(w.ports[who]!, `/?op=${encodeURIComponent(op)}&n=${Math.min(2000, n - done)}`);
      const s = w.cpuSeconds() - c0;
      w.drainLog();
      return (s * 1e6) / n;
    };
    for (const op of ops) {
      const n = Math.ceil((targetS * 1e6) / (await call('cur', op, 500)));
      const base: number[] = [];
      const cur: number[] = [];
      for (let r = 0; r < rounds; r++) {
        base.push(await call('base', op, n));
        cur.push(await call('cur', op, n));
      }
      const diff = base.map((b, i) => cur[i]! - b);
      console.log(
        `${op}: baseline ${median(base).toFixed(1)} µs, current ${median(cur).toFixed(1)} µs, current − baseline per round ${diff.map((d) => d.toFixed(1)).join(', ')} (median ${median(diff).toFixed(1)})`,
      );
    }
  } finally {
    await w.stop();
    await upstream.proc.stop();
  }
}

export async function main(): Promise<number> {
  installSignalHandlers();
  try {
    if (process.env.OPS_BASELINE) {
      const ops = (process.env.OPS_AB ?? 'pipeline:all,pipeline:real').split(',');
      await compare(process.env.OPS_BASELINE, ops, Number(process.env.OPS_ROUNDS ?? 7), Number(process.env.OPS_TARGET_S ?? 1));
      return 0;
    }
    if (process.env.OPS_PROFILE) {
      await profileOp(process.env.OPS_PROFILE, Number(process.env.OPS_PROFILE_N ?? 20_000));
      return 0;
    }
    const r = await isolateBreakdown({
      rounds: Number(process.env.OPS_ROUNDS ?? 3),
      targetS: Number(process.env.OPS_TARGET_S ?? 1),
      only: process.env.OPS_ONLY,
    });
    const row = (x: { us: number; rounds: number[] }, label: string) =>
      console.log(`${x.us.toFixed(2).padStart(9)} µs  ${label}   (rounds: ${x.rounds.map((v) => v.toFixed(1)).join(', ')})`);
    console.log(`\nworkerd CPU per operation, median of ${r.rounds} rounds:`);
    for (const x of [...r.sync, ...r.fetch, ...r.pipeline]) row(x, x.label);
    console.log('\nper stage (pipeline cut after the stage minus cut before it; upstream answered in the isolate):');
    for (const s of r.stages) row(s, s.stage);
    return 0;
  } finally {
    await cleanupAll();
  }
}
