import { cleanupAll, installSignalHandlers } from './harness/procs.js';
import { startNodeUpstream } from './harness/servers.js';
import { generateTable, TARGET_PATH_PREFIX } from './harness/snapshot.js';
import { startWorkers } from './harness/workers.js';
import { runWrk } from './harness/wrk.js';
installSignalHandlers();
try {
  const upstream = await startNodeUpstream();
  const origin = `http://127.0.0.1:${upstream.port}`;
  const w = await startWorkers([{ name: 'd', entry: 'src/index.ts', bindings: { EDGEWAY_ENV: 'dev' }, outbound: 'worker', wranglerBindings: true, snapshot: generateTable({ routes: 1000, upstream: origin, targetHost: 'api.bench.test', rateLimit: true }) }]);
  const url = `http://127.0.0.1:${w.ports.d}${TARGET_PATH_PREFIX}/items?page=1`;
  const r = await runWrk('wrk', url, { threads: 2, connections: 32, durationS: 3 }, 'api.bench.test', ['CF-Connecting-IP: 198.51.100.7']);
  console.log(r.rps);
  const http = await import('node:http');
  await new Promise<void>((done) => http.get(url, { headers: { host: 'api.bench.test', 'cf-connecting-ip': '198.51.100.7' } }, (res) => { console.log(res.headers['x-rl-debug'], res.headers['ratelimit']); res.resume(); done(); }));
} finally { await cleanupAll(); }
