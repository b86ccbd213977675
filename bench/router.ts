/** Router benchmark: match latency on 100/1k/10k-route tables, 10k compile time, regex cost on crafted input (not a test). */
import { pathToFileURL } from 'node:url';
import type { CompileRoutes, MatchRequest } from '../src/routing.js';
import { compileIndexed } from '../src/routing/indexed/index.js';
import { compileRouteRegex } from '../src/routing/regex.js';
import { HTTPRoute } from '../src/schema/httproute.js';
import { seededRandom } from '../test/support/seeded.js';

export interface RouterBenchOptions {
  /** Matcher under test (default: the indexed production matcher). */
  compile?: CompileRoutes;
  sizes?: number[];
  /** Timed runs per size; the median is reported. */
  runs?: number;
  /** Distinct requests in the fixed mix. */
  requests?: number;
  /** Passes over the mix per timed run. */
  passes?: number;
  seed?: number;
  /** "fetch": WHATWG Headers (what the Worker passes); "map": a plain lookup, to isolate the matcher's own cost. */
  headers?: 'fetch' | 'map';
}

export interface RouterBenchResult {
  matchNsMedian: Record<string, number>;
  compileMs10k: number;
  ratio10kTo100: number;
}

const RESOURCES = ['users', 'orders', 'items', 'carts', 'payments', 'search', 'auth', 'media', 'reports', 'events'];

/**
 * A table shaped like a multi-tenant gateway: about five routes per exact service host, some tenant wildcards,
 * a few host-less routes; rules mix PathPrefix (most), Exact, RegularExpression, method and header matches.
 */
export function generateTable(n: number, seed = 7): HTTPRoute[] {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const tenants = Math.max(4, Math.floor(n / 50));
  const routes: HTTPRoute[] = [];
  for (let i = 0; i < n; i++) {
    const tenant = i % tenants;
    const kind = rand();
    let hostnames: string[] | undefined;
    if (kind < 0.8) hostnames = [`svc${Math.floor(i / 5)}.t${tenant}.example.com`];
    else if (kind < 0.95) hostnames = [`*.t${tenant}.example.com`];
    else if (kind < 0.99) hostnames = [`api${i}.example.net`, `*.api${i}.example.net`];
    const rules = [];
    const ruleCount = 1 + Math.floor(rand() * 3);
    for (let r = 0; r < ruleCount; r++) {
      const res = `${pick(RESOURCES)}${i % 7}`;
      const version = pick(['v1', 'v2']);
      const p = rand();
      const match: Record<string, unknown> = {};
      if (p < 0.6) match.path = { type: 'PathPrefix', value: `/api/${version}/${res}` };
      else if (p < 0.8) match.path = { type: 'Exact', value: `/${res}/status` };
      else if (p < 0.9) match.path = { type: 'RegularExpression', value: `/api/v[0-9]+/${res}/[0-9]+` };
      else match.path = { type: 'PathPrefix', value: hostnames ? '/' : `/.well-known/r${i}` };
      if (rand() < 0.2) match.method = pick(['GET', 'POST']);
      if (rand() < 0.2) match.headers = [{ name: 'x-tenant', value: `t${tenant}` }];
      if (rand() < 0.05) match.headers = [{ type: 'RegularExpression', name: 'x-canary', value: 'true|yes' }];
      rules.push({ matches: [match] });
    }
    routes.push(
      HTTPRoute.parse({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: {
          name: `route-${i}`,
          namespace: `tenant-${tenant}`,
          creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
        },
        spec: { ...(hostnames ? { hostnames } : {}), rules },
      }),
    );
  }
  return routes;
}

/** A fixed mix: mostly requests aimed at some route (hit or near miss), plus unknown hosts and paths. */
export function generateRequests(routes: readonly HTTPRoute[], count: number, seed: number, headers: 'fetch' | 'map') {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out: MatchRequest[] = [];
  for (let i = 0; i < count; i++) {
    const route = pick(routes);
    const rule = pick(route.spec.rules);
    const m = pick(rule.matches);
    let host = route.spec.hostnames?.length ? pick(route.spec.hostnames) : `h${i}.unknown.org`;
    if (host.startsWith('*.')) host = `app${i % 3}${host.slice(1)}`;
    let path: string;
    const pv = m.path?.value ?? '/';
    if (m.path?.type === 'Exact') path = pv;
    else if (m.path?.type === 'RegularExpression') path = pv.replace('v[0-9]+', 'v3').replace('[0-9]+', String(i));
    else path = `${pv === '/' ? '' : pv}/${i % 100}/details`;
    const miss = rand();
    if (miss < 0.1) host = `nope${i}.example.org`;
    else if (miss < 0.2) path = `/missing/${i}`;
    const h: Record<string, string> = { 'user-agent': 'bench', accept: '*/*' };
    if (rand() < 0.7) h['x-tenant'] = route.metadata.namespace.replace('tenant-', 't');
    if (rand() < 0.1) h['x-canary'] = 'yes';
    const map = new Map(Object.entries(h));
    out.push({
      host,
      path,
      method: m.method ?? (rand() < 0.8 ? 'GET' : 'POST'),
      headers: headers === 'fetch' ? new Headers(h) : { get: (name: string) => map.get(name) ?? null },
      query: new URLSearchParams(rand() < 0.3 ? `page=${i % 5}` : ''),
    });
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export function runRouterBench(opts: RouterBenchOptions = {}): RouterBenchResult {
  const compile = opts.compile ?? compileIndexed;
  const sizes = opts.sizes ?? [100, 1000, 10000];
  const runs = opts.runs ?? 21;
  const requestCount = opts.requests ?? 2000;
  const passes = opts.passes ?? 5;
  const seed = opts.seed ?? 7;
  let sink = 0;
  let compileMs10k = NaN;
  const setups = sizes.map((size) => {
    const routes = generateTable(size, seed);
    const compileTimes: number[] = [];
    let matcher = compile(routes);
    for (let i = 0; i < 7; i++) {
      const t0 = cpuMs();
      matcher = compile(routes);
      compileTimes.push(cpuMs() - t0);
    }
    if (size === 10000) compileMs10k = median(compileTimes);
    const requests = generateRequests(routes, requestCount, seed + size, opts.headers ?? 'fetch');
    // Warm up the JIT on the same mix before timing.
    for (let p = 0; p < 3; p++) for (const r of requests) sink += matcher.match(r) === null ? 0 : 1;
    return { size, matcher, requests, samples: [] as number[] };
  });
  // Sizes are interleaved run by run so that load from other processes on the shared machine hits all of them alike.
  // CPU time, not wall time: time spent descheduled is not the matcher's.
  for (let run = 0; run < runs; run++) {
    for (const s of setups) {
      const { matcher, requests } = s;
      const t0 = process.cpuUsage();
      for (let p = 0; p < passes; p++) for (let i = 0; i < requests.length; i++) sink += matcher.match(requests[i]!) === null ? 0 : 1;
      const used = process.cpuUsage(t0);
      s.samples.push(((used.user + used.system) * 1000) / (passes * requests.length));
    }
  }
  if (sink < 0) console.error(sink); // keeps the loop observable
  const matchNsMedian: Record<string, number> = {};
  for (const s of setups) matchNsMedian[String(s.size)] = Math.round(median(s.samples));
  const small = matchNsMedian['100'];
  const large = matchNsMedian['10000'];
  return {
    matchNsMedian,
    compileMs10k: Math.round(compileMs10k * 100) / 100,
    ratio10kTo100: small && large ? Math.round((large / small) * 100) / 100 : NaN,
  };
}

export interface RegexTiming {
  pattern: string;
  /** Length of the crafted input the figures are for. */
  length: number;
  /** RE2 (re2js, what the router runs): median of several runs at `length`, in milliseconds. */
  re2Ms: number;
  /** The backtracking engine the router used before (JS RegExp), measured at shorter inputs of the same shape. */
  backtracking: { length: number; ms: number }[];
  /** The backtracking figure extrapolated to `length` from the longest measured input (it doubles per character). */
  backtrackingEstimateMs: number;
}

/**
 * The two patterns of issue 10 on crafted input (a run of word characters that can be split many ways, then a
 * character that makes the match fail). The old engine is only run up to `budgetMs` per input: at 40 characters
 * it would take minutes to hours, so that figure is extrapolated and labelled as such.
 */
export function runRegexBench(budgetMs = 250): RegexTiming[] {
  const cases = [
    { pattern: '/files/([a-z0-9]+)+\\.txt', input: (n: number) => '/files/' + 'a'.repeat(n - 7) },
    { pattern: '(\\w+\\s?)*$', input: (n: number) => 'a'.repeat(n - 1) + '!' },
  ];
  const length = 40;
  return cases.map(({ pattern, input }) => {
    const re2 = compileRouteRegex(pattern);
    const text = input(length);
    const runs: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t0 = performance.now();
      if (re2.testExact(text)) throw new Error('crafted input must not match');
      runs.push(performance.now() - t0);
    }
    const js = new RegExp(`^(?:${pattern})$`);
    const backtracking: { length: number; ms: number }[] = [];
    for (let n = 16; n < length; n++) {
      const t0 = performance.now();
      js.test(input(n));
      const ms = performance.now() - t0;
      backtracking.push({ length: n, ms: Math.round(ms * 100) / 100 });
      if (ms > budgetMs) break;
    }
    const last = backtracking.at(-1)!;
    return {
      pattern,
      length,
      re2Ms: Math.round(median(runs) * 1000) / 1000,
      backtracking,
      backtrackingEstimateMs: Math.round(last.ms * 2 ** (length - last.length)),
    };
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const headers = process.argv.includes('--map-headers') ? 'map' : 'fetch';
  const router = runRouterBench({ headers });
  const regex = process.argv.includes('--no-regex') ? undefined : runRegexBench();
  console.log(JSON.stringify(regex ? { ...router, regex } : router));
}
