/**
 * End-to-end A/B of two builds of the Worker: this tree's production bundle against a saved one (AB_BASELINE=<an
 * index.js from `wrangler deploy --dry-run --outdir`), both in one workerd on the production bench's table, loaded in
 * turn by wrk for many short rounds. The per-round difference in workerd CPU per request cancels the machine's drift,
 * which is larger than most single changes. Run: AB_BASELINE=... npm run bench:ab (AB_ROUNDS, AB_SECONDS, AB_TARGET=c|d|jwt-rl).
 */
import { BENCH_PATH, CLIENT_IP, HOST, median, probe, ROUTE_COUNT } from './harness/production.js';
import { startProdWorkerd } from './harness/prod.js';
import { cleanupAll, installSignalHandlers } from './harness/procs.js';
import { startNginxUpstream } from './harness/servers.js';
import { generateTable } from './harness/snapshot.js';
import { securityHeader, withSecurity } from './harness/security-variant.js';
import { ensureTools } from './harness/tools.js';
import { runWrk } from './harness/wrk.js';

export async function main(): Promise<number> {
  installSignalHandlers();
  const baseline = process.env.AB_BASELINE;
  if (!baseline) throw new Error('AB_BASELINE=<saved index.js of another build> is required');
  const rounds = Number(process.env.AB_ROUNDS ?? 12);
  const seconds = Number(process.env.AB_SECONDS ?? 4);
  const target = process.env.AB_TARGET ?? 'c';
  // c: the plain route; d: with a rate limit; jwt-rl: d behind the bench's JWT SecurityPolicy (v-jwt-rl).
  const rateLimit = target === 'd' || target === 'jwt-rl';
  const jwt = target === 'jwt-rl';
  const tools = await ensureTools(['wrk', 'nginx']);
  const upstream = await startNginxUpstream(tools.nginx!.path!);
  const origin = `http://127.0.0.1:${upstream.port}`;
  const plain = generateTable({ routes: ROUTE_COUNT, upstream: origin, targetHost: HOST, rateLimit, catchAll: true, split: false });
  const table = jwt ? withSecurity(plain, 'jwt') : plain;
  const own = jwt ? [securityHeader('jwt')] : [];
  try {
    const w = await startProdWorkerd(
      [
        { name: 'base', kind: 'edgeway', snapshot: table, bundleFile: baseline },
        { name: 'cur', kind: 'edgeway', snapshot: table },
      ],
      origin,
    );
    try {
      for (const who of ['base', 'cur']) {
        const p = await probe(
          w.ports[who]!,
          BENCH_PATH,
          Object.fromEntries(own.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()])),
        );
        if (p.status !== 200) throw new Error(`${who}: first response ${p.status} ${p.body}`);
      }
      const cpu: Record<string, number[]> = { base: [], cur: [] };
      const load = { threads: 1, connections: 32, durationS: seconds };
      const extra = [`CF-Connecting-IP: ${CLIENT_IP}`, ...own];
      for (let r = 0; r < rounds; r++) {
        // Alternate which goes first, so a drift within the round does not favour one side.
        for (const who of r % 2 ? ['cur', 'base'] : ['base', 'cur']) {
          const url = `http://127.0.0.1:${w.ports[who]}${BENCH_PATH}`;
          await runWrk(tools.wrk!.path!, url, { ...load, durationS: 1 }, HOST, extra);
          w.drainLog();
          const c0 = w.cpuSeconds();
          const res = await runWrk(tools.wrk!.path!, url, load, HOST, extra);
          cpu[who]!.push(((w.cpuSeconds() - c0) * 1e6) / res.requests);
          w.drainLog();
        }
        console.log(`round ${r + 1}: base ${cpu.base!.at(-1)!.toFixed(0)} µs/req, current ${cpu.cur!.at(-1)!.toFixed(0)} µs/req`);
      }
      const diff = cpu.cur!.map((c, i) => c - cpu.base![i]!);
      console.log(
        `\n${target}: baseline ${median(cpu.base!).toFixed(1)} µs/req, current ${median(cpu.cur!).toFixed(1)} µs/req; ` +
          `current − baseline per round ${diff.map((d) => d.toFixed(0)).join(', ')} (median ${median(diff).toFixed(1)}, ${diff.filter((d) => d < 0).length}/${diff.length} rounds lower)`,
      );
    } finally {
      await w.stop();
    }
  } finally {
    await upstream.proc.stop();
    await cleanupAll();
  }
  return 0;
}
