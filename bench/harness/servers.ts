/** The non-Worker processes under test: the upstream (nginx static JSON, or Node), and nginx/haproxy as reverse proxies. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, onExitSync, start, waitForPort, type Started } from './procs.js';

/** The upstream's whole answer: small JSON, like a typical API read. */
export const UPSTREAM_BODY = '{"ok":true,"service":"bench-upstream","items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}]}';

export interface Server {
  port: number;
  describe: string;
  proc: Started;
}

let dir: string | null = null;
/** One temp dir per run for configs and logs, removed at cleanup. */
export function workDir(): string {
  if (!dir) {
    const d = mkdtempSync(join(tmpdir(), 'edgeway-bench-'));
    dir = d;
    // A section's cleanupAll removes it; the next section that asks gets a fresh one.
    onExitSync(() => {
      rmSync(d, { recursive: true, force: true });
      if (dir === d) dir = null;
    });
  }
  return dir;
}

// Shared by every nginx we start: one worker (workerd runs a Worker on one thread), long keep-alive so wrk's
// connections are not recycled mid-round, temp paths inside our dir so nothing touches /var.
function nginxConf(name: string, server: string, upstreamBlock = ''): string {
  const d = workDir();
  return `worker_processes 1;
daemon off;
master_process on;
pid ${d}/${name}.pid;
error_log ${d}/${name}.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${d}/${name}-body;
  proxy_temp_path ${d}/${name}-proxy;
  fastcgi_temp_path ${d}/${name}-fastcgi;
  uwsgi_temp_path ${d}/${name}-uwsgi;
  scgi_temp_path ${d}/${name}-scgi;
  keepalive_requests 10000000;
  keepalive_timeout 65s;
  ${upstreamBlock}
  ${server}
}
`;
}

async function startNginx(nginx: string, name: string, conf: string, port: number, describe: string): Promise<Server> {
  const path = join(workDir(), `${name}.conf`);
  writeFileSync(path, conf);
  const proc = start(nginx, ['-p', workDir(), '-c', path, '-e', join(workDir(), `${name}.stderr.log`)]);
  await waitForPort(port, 10_000, () => proc.output());
  return { port, describe, proc };
}

/** nginx answering every request with UPSTREAM_BODY from memory. */
export async function startNginxUpstream(nginx: string): Promise<Server> {
  const port = await freePort();
  const body = UPSTREAM_BODY.replace(/'/g, "\\'");
  const server = `server { listen 127.0.0.1:${port}; location / { default_type application/json; return 200 '${body}'; } }`;
  return startNginx(
    nginx,
    'upstream',
    nginxConf('upstream', server),
    port,
    `nginx (1 worker) returning a ${UPSTREAM_BODY.length}-byte JSON body from memory`,
  );
}

/** A plain Node http server in its own process (fallback when nginx is missing). */
export async function startNodeUpstream(): Promise<Server> {
  const port = await freePort();
  const script = join(workDir(), 'upstream.cjs');
  writeFileSync(
    script,
    `const http = require('node:http');
const body = ${JSON.stringify(UPSTREAM_BODY)};
const s = http.createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); });
s.keepAliveTimeout = 65000;
s.listen(${port}, '127.0.0.1');
`,
  );
  const proc = start(process.execPath, [script]);
  await waitForPort(port, 10_000, () => proc.output());
  return { port, describe: `Node ${process.version} http server (own process) returning a ${UPSTREAM_BODY.length}-byte JSON body`, proc };
}

/** nginx as a reverse proxy with upstream keep-alive, the usual production setup. */
export async function startNginxProxy(nginx: string, upstreamPort: number): Promise<Server> {
  const port = await freePort();
  const upstream = `upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }`;
  const server = `server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; } }`;
  return startNginx(nginx, 'proxy', nginxConf('proxy', server, upstream), port, 'nginx reverse proxy, 1 worker, upstream keepalive 64');
}

/** haproxy in HTTP mode, one thread, connection reuse to the upstream. */
export async function startHaproxy(haproxy: string, upstreamPort: number): Promise<Server> {
  const port = await freePort();
  const path = join(workDir(), 'haproxy.cfg');
  writeFileSync(
    path,
    `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server up 127.0.0.1:${upstreamPort}
`,
  );
  // -db: stay in the foreground, so the process we spawned is the one we kill.
  const proc = start(haproxy, ['-db', '-f', path]);
  await waitForPort(port, 10_000, () => proc.output());
  return { port, describe: 'haproxy, HTTP mode, 1 thread, http-reuse always', proc };
}
