/**
 * `edgeway demo` (npm start): stand-in clusters on loopback, a stand-in identity provider (JWKS and dev tokens), the dev
 * gateway in front, and a switch to fail clusters.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
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

/** Must agree with routes/security.yaml (issuer and remoteJWKS.uri) and `edgeway dev-token`. */
export const DEMO_IDP_PORT = 9120;
export const DEMO_AUDIENCE = 'edgeway-demo';
/** The API key of the demo consumer "acme" (routes/security.yaml holds only its sha256). Not a secret. */
export const DEMO_API_KEY = 'demo-acme-key-0123456789';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: Record<string, unknown>;
}

/**
 * A stand-in identity provider on loopback: `GET /.well-known/jwks.json` (the public keys), `POST /token?sub=&scope=`
 * (a signed ES256 token, what `edgeway dev-token` prints) and `POST /rotate` (a new signing key; the previous one stays
 * in the JWKS so tokens already issued keep working, as a real provider rotates). Keys live in memory only.
 */
export class DemoIdentityProvider {
  private keys: SigningKey[] = [];
  private generation = 0;
  private server?: http.Server;
  jwksFetches = 0;
  port = 0;

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async rotate(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `demo-${++this.generation}-${crypto.randomUUID().slice(0, 8)}`;
    this.keys = [{ kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } }, ...this.keys].slice(0, 2);
    return kid;
  }

  async issue(sub: string, scope: string, ttlSeconds = 3600): Promise<string> {
    const key = this.keys[0]!;
    return new SignJWT({ scope })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(DEMO_AUDIENCE)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(key.privateKey);
  }

  async start(port: number): Promise<void> {
    await this.rotate();
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(body) + '\n');
      };
      const fail = (e: unknown) => send(500, { error: (e as Error).message });
      if (req.method === 'GET' && url.pathname === '/.well-known/jwks.json') {
        this.jwksFetches++;
        return send(200, { keys: this.keys.map((k) => k.jwk) });
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        const sub = url.searchParams.get('sub') || 'alice';
        const scope = url.searchParams.get('scope') ?? 'read';
        const ttl = Math.min(86_400, Math.max(1, Number(url.searchParams.get('ttl') ?? 3600) || 3600));
        return void this.issue(sub, scope, ttl).then((token) => send(200, { token, kid: this.keys[0]!.kid, sub, scope }), fail);
      }
      if (req.method === 'POST' && url.pathname === '/rotate')
        return void this.rotate().then((kid) => send(200, { kid, jwks: this.keys.map((k) => k.kid) }), fail);
      send(404, { error: 'use GET /.well-known/jwks.json, POST /token?sub=&scope=, POST /rotate' });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
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
Security (routes/security.yaml; identity provider on :${DEMO_IDP_PORT}):
  curl -si -H 'Host: secure.example.com' ${gw}/orders | head -1                # 401: no token
  TOKEN=$(npm run -s edgeway -- dev-token --sub alice --scope read)
  curl -s -H 'Host: secure.example.com' -H "Authorization: Bearer $TOKEN" ${gw}/orders   # 200
  curl -s -H 'Host: partners.example.com' -H 'X-API-Key: ${DEMO_API_KEY}' ${gw}/orders   # 200 as consumer acme
Admin API (${demoToken ? `demo token; set ADMIN_TOKEN in .dev.vars to choose your own` : 'ADMIN_TOKEN from .dev.vars / --var'}):
  curl -si -H 'Authorization: Bearer ${token}' ${gw}/_edgeway/v1/snapshot | head -20   # ETag is the version
  EDGEWAY_ADMIN_TOKEN=${token} npm run -s edgeway -- explain --url ${gw} --host api.example.com --path /orders
Dashboard: ${gw}/_edgeway/ui   (sign in with the operator token above)
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
  const idp = new DemoIdentityProvider();
  try {
    await idp.start(DEMO_IDP_PORT);
  } catch (e) {
    out.error(`edgeway demo: cannot start the stand-in identity provider on :${DEMO_IDP_PORT} (${(e as Error).message})`);
    await demo.dispose();
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
    await Promise.all([demo.dispose(), idp.stop()]);
    return 1;
  }
  out.log(instructions(gateway.url.replace(/\/$/, ''), `http://127.0.0.1:${demo.controlPort}`, demo.services, demoToken));
  await untilSignal();
  out.log('stopping...');
  await gateway.dispose();
  await Promise.all([demo.dispose(), idp.stop()]);
  return 0;
}
