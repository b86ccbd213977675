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
