/** Loads the golden precedence tables in test/fixtures/precedence/*.yaml into parsed routes and requests. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { HTTPRoute } from '../../../src/schema/httproute.js';
import type { MatchRequest } from '../../../src/routing.js';
import { requestHostFromHeader } from '../../../src/routing/hostname.js';
import { normalizePath } from '../../../src/routing/normalize.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../../fixtures/precedence/', import.meta.url));

const Expect = z.strictObject({
  routeKey: z.string(),
  ruleIndex: z.number().int(),
  matchIndex: z.number().int().optional(),
  matchedHostname: z.string().optional(),
});

const FixtureRequest = z.strictObject({
  name: z.string(),
  /** Raw Host header: the harness strips port/case/trailing dot the way the app does before matching. */
  host: z.string(),
  /** Raw path: the harness normalises it (default policy) the way the app does before matching. */
  path: z.string(),
  method: z.string().default('GET'),
  headers: z.record(z.string(), z.string()).default({}),
  query: z.string().default(''),
  expect: Expect.nullable(),
});
export type FixtureRequest = z.infer<typeof FixtureRequest>;

const Fixture = z.strictObject({
  description: z.string(),
  // apiVersion/kind may be omitted in fixtures to keep them short.
  routes: z.array(z.record(z.string(), z.unknown())).min(1),
  requests: z.array(FixtureRequest).min(1),
});

export interface LoadedFixture {
  file: string;
  description: string;
  routes: HTTPRoute[];
  requests: FixtureRequest[];
}

export function loadFixtures(): LoadedFixture[] {
  const files = readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  return files.map((file) => {
    const raw = Fixture.parse(parse(readFileSync(join(FIXTURE_DIR, file), 'utf8')));
    const routes = raw.routes.map((r, i) => {
      const res = HTTPRoute.safeParse({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', ...r });
      if (!res.success) throw new Error(`${file}: routes[${i}]: ${z.prettifyError(res.error)}`);
      return res.data;
    });
    return { file, description: raw.description, routes, requests: raw.requests };
  });
}

export function toMatchRequest(r: FixtureRequest): MatchRequest {
  const n = normalizePath(r.path);
  // A path the app would reject never reaches the matcher; a redirected one comes back as its target.
  if (n.action === 'reject') throw new Error(`fixture path ${r.path}: ${n.reason}`);
  return {
    host: requestHostFromHeader(r.host),
    path: n.path,
    method: r.method,
    headers: new Headers(r.headers),
    query: new URLSearchParams(r.query),
  };
}
