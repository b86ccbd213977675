/** Starts loopback upstreams once for the workerd test project and hands their ports to the tests. */
import type { TestProject } from 'vitest/node';
import { startJwksServer } from './jwks-server.js';
import { refusedPort, startEchoUpstream, type Upstream } from './upstreams.js';

declare module 'vitest' {
  export interface ProvidedContext {
    upstreams: Record<string, number>;
    refusedPort: number;
    /** The stand-in identity provider's JWKS server (test/support/jwks-server.ts). */
    jwksPort: number;
  }
}

export const UPSTREAM_NAMES = ['blue', 'green', 'use1', 'usw2', 'euw1'] as const;

let running: Upstream[] = [];

export default async function setup(project: TestProject) {
  running = await Promise.all(UPSTREAM_NAMES.map((n) => startEchoUpstream(n)));
  project.provide('upstreams', Object.fromEntries(running.map((u) => [u.name, u.port])));
  project.provide('refusedPort', await refusedPort());
  const jwks = await startJwksServer();
  running.push(jwks);
  project.provide('jwksPort', jwks.port);
  return async () => {
    await Promise.all(running.map((u) => u.close()));
  };
}
