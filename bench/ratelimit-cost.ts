/** Rate-limit cost: the same Edgeway route with and without a (never-denying) RateLimitPolicy, same workerd, alternating wrk runs. */
import { cleanupAll, installSignalHandlers } from './harness/procs.js';
import { startNodeUpstream } from './harness/servers.js';
import { generateTable, TARGET_PATH_PREFIX } from './harness/snapshot.js';
import { startWorkers } from './harness/workers.js';
import { runWrk } from './harness/wrk.js';

const HOST = 'api.bench.test';

export async function runRateLimitCost(opts: { rounds?: number; durationS?: number; connections?: number } = {}) {
  const rounds = opts.rounds ?? 3;
  const load = { threads: 2, connections: opts.connections ?? 32, durationS: opts.durationS ?? 5 };
  installSignalHandlers();
  try {
    const upstream = await startNodeUpstream();
    const origin = `http://127.0.0.1:${upstream.port}`;
    const spec = (name: 'c' | 'd') => ({
      name,
      entry: 'src/index.ts',
      bindings: { EDGEWAY_ENV: 'dev' },
      outbound: 'worker' as const,
      wranglerBindings: true,
      snapshot: generateTable({ routes: 1000, upstream: origin, targetHost: HOST, rateLimit: name === 'd' }),
    });
    const w = await startWorkers([spec('c'), spec('d')]);
    const url = (id: string) => `http://127.0.0.1:${w.ports[id]}${TARGET_PATH_PREFIX}/items?page=1`;
    const headers = ['CF-Connecting-IP: 198.51.100.7'];
    const rps: Record<'c' | 'd', number[]> = { c: [], d: [] };
    const p99: Record<'c' | 'd', number[]> = { c: [], d: [] };
    for (const id of ['c', 'd'] as const) await runWrk('wrk', url(id), { ...load, durationS: 1 }, HOST, headers);
    for (let r = 0; r < rounds; r++)
      for (const id of r % 2 ? (['d', 'c'] as const) : (['c', 'd'] as const)) {
        const res = await runWrk('wrk', url(id), load, HOST, headers);
        if (res.non2xx) throw new Error(`${id}: ${res.non2xx} non-2xx responses`);
        rps[id].push(res.rps);
        p99[id].push(res.p99Ms);
      }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return { rpsC: med(rps.c), rpsD: med(rps.d), ratio: med(rps.d) / med(rps.c), p99C: med(p99.c), p99D: med(p99.d), rps, p99 };
  } finally {
    await cleanupAll();
  }
}

const isMain = typeof process !== 'undefined' && process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const r = await runRateLimitCost({ rounds: Number(process.env.ROUNDS ?? 3), durationS: Number(process.env.DURATION ?? 5) });
  console.log(JSON.stringify(r));
  console.log(
    `rate-limited route ${Math.round(r.rpsD)} req/s vs same route unlimited ${Math.round(r.rpsC)} req/s: ${r.ratio.toFixed(2)}x (target >= 0.7x); p99 ${r.p99D} vs ${r.p99C} ms`,
  );
}
