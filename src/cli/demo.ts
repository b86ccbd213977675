/** `edgeway demo` (npm start): stand-in clusters on loopback, the dev gateway in front, and a switch to fail clusters. */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { DevGateway } from './dev-server.js';
import { localBindings, startReporting, untilSignal } from './dev.js';
import type { Out } from './out.js';

export interface ClusterService {
  cluster: string;
  cloud: string;
  region: string;
  service: string;
  version: string;
  port: number;
}

/** Must agree with the endpoint URLs in routes/backends.yaml. */
export const DEMO_SERVICES: ClusterService[] = [
  { cluster: 'aws-us-east-1', cloud: 'aws', region: 'us-east-1', service: 'api', version: 'v1', port: 9101 },
  { cluster: 'aws-eu-west-1', cloud: 'aws', region: 'eu-west-1', service: 'api', version: 'v1', port: 9102 },
  { cluster: 'gcp-us-central1', cloud: 'gcp', region: 'us-central1', service: 'api', version: 'v1', port: 9103 },
  { cluster: 'aws-us-east-1', cloud: 'aws', region: 'us-east-1', service: 'shop', version: 'blue', port: 9111 },
  { cluster: 'aws-us-east-1', cloud: 'aws', region: 'us-east-1', service: 'shop', version: 'green', port: 9112 },
  { cluster: 'gcp-us-central1', cloud: 'gcp', region: 'us-central1', service: 'shop', version: 'blue', port: 9113 },
];
export const DEMO_CONTROL_PORT = 9100;
export const DEMO_GATEWAY_PORT = 8787;
/**
 * The operator token of the demo's admin API when .dev.vars / --var set none: the demo listens on 127.0.0.1 only,
 * in front of stand-in clusters, and the README's admin walkthrough needs a token it can print. Not a secret.
 */
export const DEMO_ADMIN_TOKEN = 'edgeway-demo-admin-token';

export interface RunningService extends ClusterService {
  up: boolean;
  requests: number;
}

/** One stand-in service: answers JSON naming where it runs; its listener can be closed and reopened on the same port. */
export class StandIn {
  readonly state: RunningService;
  private server?: http.Server;
  private sockets = new Set<Socket>();

  constructor(spec: ClusterService) {
    this.state = { ...spec, up: false, requests: 0 };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const s = this.state;
    const server = http.createServer((req, res) => {
      s.requests++;
      const healthz = req.url === '/healthz' || req.url?.startsWith('/healthz?');
      const body = healthz
        ? { ok: true, cluster: s.cluster, service: s.service }
        : {
            cluster: s.cluster,
            cloud: s.cloud,
            region: s.region,
            service: s.service,
            version: s.version,
            method: req.method,
            path: req.url,
            host: req.headers.host,
          };
      res.writeHead(200, { 'content-type': 'application/json', 'x-demo-cluster': s.cluster, 'x-demo-version': s.version });
      res.end(JSON.stringify(body) + '\n');
    });
    server.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(s.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    s.port = (server.address() as AddressInfo).port;
    this.server = server;
    s.up = true;
  }

  /** Like a cluster going away: new connections are refused and open ones are cut. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.state.up = false;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

export interface Demo {
  services: StandIn[];
  controlPort: number;
  gateway?: DevGateway;
  dispose(): Promise<void>;
}

/** Starts the stand-ins and the control endpoint (GET or POST /clusters/<name>/down|up, GET / for status). */
export async function startStandIns(specs: ClusterService[], controlPort: number): Promise<Demo> {
  const services = specs.map((s) => new StandIn(s));
  const control = http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    const status = () =>
      services.map(({ state: { cluster, service, version, port, up, requests } }) => ({ cluster, service, version, port, up, requests }));
    const m = /^\/clusters\/([a-z0-9-]+)\/(down|up)\/?$/.exec(req.url ?? '');
    if (req.url === '/' || req.url === '/clusters') return send(200, status());
    if (!m || (req.method !== 'POST' && req.method !== 'GET'))
      return send(404, { error: 'use /clusters/<name>/down or /clusters/<name>/up' });
    const targets = services.filter((s) => s.state.cluster === m[1]);
    if (!targets.length) return send(404, { error: `no cluster ${m[1]}`, clusters: [...new Set(services.map((s) => s.state.cluster))] });
    try {
      await Promise.all(targets.map((t) => (m[2] === 'down' ? t.stop() : t.start())));
      send(
        200,
        status().filter((s) => s.cluster === m[1]),
      );
    } catch (e) {
      send(500, { error: (e as Error).message });
    }
  });
  const started: StandIn[] = [];
  try {
    for (const s of services) {
      await s.start();
      started.push(s);
    }
    await new Promise<void>((resolve, reject) => {
      control.once('error', reject);
      control.listen(controlPort, '127.0.0.1', () => resolve());
    });
  } catch (e) {
    await Promise.all(started.map((s) => s.stop()));
    throw e;
  }
  return {
    services,
    controlPort: (control.address() as AddressInfo).port,
    async dispose() {
      control.closeAllConnections();
      await Promise.all([...services.map((s) => s.stop()), new Promise<void>((r) => control.close(() => r()))]);
    },
  };
}

const instructions = (gw: string, control: string, services: StandIn[], demoToken: boolean) => {
  const token = demoToken ? DEMO_ADMIN_TOKEN : '$ADMIN_TOKEN';
  const clusters = [...new Set(services.map((s) => s.state.cluster))];
  return `
Edgeway demo is running.
  gateway   ${gw}   (routes/ is watched: edit a file and the table is re-published)
  control   ${control}/   (status of the stand-in clusters)
  clusters  ${services.map((s) => `${s.state.cluster}/${s.state.service}-${s.state.version} :${s.state.port}`).join(', ')}

Try:
  curl -s -H 'Host: api.example.com' ${gw}/orders                    # answered by a primary-tier cluster
  curl -si -H 'Host: api.example.com' ${gw}/v0/orders | head -3      # 301 to /v1/orders
  for i in $(seq 20); do curl -s -H 'Host: shop.example.com' ${gw}/ | grep -o '"version":"[a-z]*"'; done | sort | uniq -c   # ~90/10 blue/green
  curl -si -H 'Host: eu.shop.example.com' ${gw}/ | grep -i set-cookie   # take the shop-session cookie ...
  curl -s -H 'Host: shop.example.com' -H 'Cookie: shop-session=<value>' ${gw}/   # ... and stay on that track
  curl -s -X POST ${control}/clusters/aws-us-east-1/down                 # fail a cluster, then repeat the api curl
  curl -s -X POST ${control}/clusters/aws-us-east-1/up
  npm run edgeway -- validate routes/                                   # located errors after you break a file
Admin API (${demoToken ? `demo token; set ADMIN_TOKEN in .dev.vars to choose your own` : 'ADMIN_TOKEN from .dev.vars / --var'}):
  curl -si -H 'Authorization: Bearer ${token}' ${gw}/_edgeway/v1/snapshot | head -20   # ETag is the version
Clusters: ${clusters.join(', ')}. Ctrl-C stops everything.
`;
};

export async function runDemo(
  out: Out,
  options: { routesDir?: string; port?: number; controlPort?: number; vars?: readonly string[] } = {},
): Promise<number> {
  const bindings = await localBindings(options.vars ?? [], out);
  if (!bindings) return 1;
  const demoToken = bindings.ADMIN_TOKEN === undefined;
  if (demoToken) bindings.ADMIN_TOKEN = DEMO_ADMIN_TOKEN;
  let demo: Demo;
  try {
    demo = await startStandIns(DEMO_SERVICES, options.controlPort ?? DEMO_CONTROL_PORT);
  } catch (e) {
    out.error(`edgeway demo: cannot start the stand-in clusters (${(e as Error).message}); is another demo running?`);
    return 1;
  }
  let gateway: DevGateway | undefined;
  try {
    gateway = await startReporting(
      { routesDir: options.routesDir ?? 'routes', port: options.port ?? DEMO_GATEWAY_PORT, host: '127.0.0.1', bindings },
      out,
    );
  } catch (e) {
    out.error(`edgeway demo: cannot start the gateway (${(e as Error).message})`);
  }
  if (!gateway) {
    await demo.dispose();
    return 1;
  }
  out.log(instructions(gateway.url.replace(/\/$/, ''), `http://127.0.0.1:${demo.controlPort}`, demo.services, demoToken));
  await untilSignal();
  out.log('stopping...');
  await gateway.dispose();
  await demo.dispose();
  return 0;
}
