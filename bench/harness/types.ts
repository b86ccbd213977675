/** The shape of one bench run's results, shared by the runner and the report writer. */
import type { Machine } from './machine.js';
import type { LoadSettings, WrkResult } from './wrk.js';

export type TargetId = 'a' | 'b0' | 'b' | 'c' | 'd' | 'e' | 'f';

export interface TargetResult {
  id: TargetId;
  label: string;
  describe: string;
  /** null when the target could not be started; `reason` says why. */
  port: number | null;
  reason?: string;
  /** First response before measuring: status and the start of its body. */
  probe?: { status: number; body: string; headers: Record<string, string> };
  rounds: WrkResult[];
  median?: { rps: number; p50Ms: number; p99Ms: number };
  non2xx: number;
  socketErrors: number;
}

/** One measured wrk run of a production-like target, with workerd's CPU time over the same run. */
export interface ProdRound extends WrkResult {
  /** workerd process CPU (user + system, /proc/<pid>/stat) during the run divided by requests; null for non-Workers. */
  cpuUsPerRequest: number | null;
  /** Lines workerd wrote (console.log) per request during the run; null for non-Workers. */
  logLinesPerRequest: number | null;
  /** workerd CPU seconds per wall-clock second of the run: ~1 means its JS thread was saturated. */
  workerdCores: number | null;
}

export interface ProdTarget {
  id: string;
  /** baseline = p, b; edgeway = c, d; variant = c with one thing switched; context = upstream, nginx, haproxy. */
  group: 'baseline' | 'edgeway' | 'variant' | 'context';
  label: string;
  describe: string;
  port: number | null;
  reason?: string;
  probe?: { status: number; body: string; headers: Record<string, string> };
  /** Seconds per measured run. */
  durationS: number;
  rounds: ProdRound[];
  median?: { rps: number; p50Ms: number; p99Ms: number; cpuUsPerRequest: number | null };
  non2xx: number;
  socketErrors: number;
}

export interface Stage {
  name: string;
  of: string;
  vs: string;
  /** Median CPU µs/request of `of` minus that of `vs`. */
  cpuUs: number | null;
  /** req/s of `of` over `vs`. */
  rpsRatio: number | null;
  how: string;
}

/** V8 CPU profile of the Edgeway target (bench/harness/profile.ts). */
export interface ProfileResult {
  requests: number;
  sampledMs: number;
  /** Non-idle profiled time of the isolate thread per request. */
  busyUsPerRequest: number;
  idleShare: number;
  byFile: { file: string; usPerRequest: number; nativeUsPerRequest: number; share: number }[];
  topFunctions: { fn: string; usPerRequest: number; share: number }[];
}

/** One operation priced inside workerd (bench/ops.ts): CPU µs per run, median and per round. */
export interface IsolateOp {
  id: string;
  label: string;
  us: number;
  rounds: number[];
}

/** bench/ops.ts: runtime operations, real-fetch variants, and the pipeline cut after each stage. */
export interface IsolateResult {
  rounds: number;
  sync: IsolateOp[];
  fetch: IsolateOp[];
  pipeline: IsolateOp[];
  stages: { stage: string; us: number; rounds: number[] }[];
}

/** Section 2: the production-like run. */
export interface ProdResults {
  load: LoadSettings & { shortDurationS: number };
  workers: string;
  bundle: { command: string; bytes: number; inputs: number } | null;
  bundleInputs: string[];
  targets: ProdTarget[];
  perRound: Record<string, number[]>;
  ratios: Record<string, number | null>;
  stages: Stage[];
  logLines: number;
  /** Per target: requests per target-route Backend, from the gateway's log lines. */
  backendHits: Record<string, Record<string, number>>;
  /** One access-log line per Edgeway target. */
  logSample: Record<string, string>;
  profile: { status: 'ok'; data: ProfileResult } | { status: 'skipped' | 'error'; reason: string };
  isolate: { status: 'ok'; data: IsolateResult } | { status: 'skipped' | 'error'; reason: string };
}

export interface Verdict {
  name: string;
  target: string;
  measured: string;
  holds: boolean | null;
  note?: string;
}

export type Section = { status: 'ok'; data: unknown } | { status: 'not available' | 'pending' | 'error'; reason: string };

export interface Results {
  mode: 'quick' | 'full';
  /** Section 2, the production-like run (the verdicts come from it). */
  prod: ProdResults;
  /** Whether the dev-hook table (section 2b, the Miniflare path; BENCH_DEV=1) was run. */
  devTable: boolean;
  /** Outbound path of b, c, d: the Node dev hook, or a Worker in the same workerd. */
  outbound: 'hook' | 'worker';
  startedAt: string;
  finishedAt: string;
  durationS: number;
  rounds: number;
  warmupS: number;
  load: LoadSettings;
  machine: Machine;
  versions: Record<string, string>;
  gateway: { real: boolean; note: string };
  upstream: string;
  workers: string;
  router: Section;
  targets: TargetResult[];
  /** Per-round ratios, e.g. c/b req/s in each round, to show the spread. */
  perRound: Record<string, number[]>;
  ratios: Record<string, number | null>;
  verdicts: Verdict[];
  rateLimit: Section;
  failover: Section;
  errors: string[];
  /** Log lines the Workers wrote during the run (dropped, not printed). */
  workerLogLines: number;
  /** Whether d's responses carry RateLimit headers, i.e. the policy was applied (null: d not probed). */
  rateLimitHeaders: boolean | null;
  /** c+d requests per target Backend, from the gateway's log lines: the observed 90/10 split. */
  backendHits: Record<string, number>;
}
