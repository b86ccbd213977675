/** Runs wrk at fixed concurrency and parses its --latency report. */
import { run } from './procs.js';

export interface LoadSettings {
  threads: number;
  connections: number;
  durationS: number;
}

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  /** connect + read + write + timeout socket errors. */
  socketErrors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function ms(value: string | undefined, unit: string | undefined): number {
  if (value === undefined || unit === undefined) return Number.NaN;
  return Number(value) * (UNIT_MS[unit] ?? Number.NaN);
}

export function parseWrk(text: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p50 = /^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(text);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(text);
  const total = /(\d+) requests in/.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (!rps || !p50 || !p99) throw new Error(`cannot parse wrk output:\n${text}`);
  return {
    rps: Number(rps[1]),
    p50Ms: ms(p50[1], p50[2]),
    p99Ms: ms(p99[1], p99[2]),
    requests: Number(total?.[1] ?? 0),
    non2xx: Number(non2xx?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

/** One wrk run against url; `host` overrides the Host header (routing keys on it). */
export async function runWrk(wrk: string, url: string, load: LoadSettings, host?: string, headers: string[] = []): Promise<WrkResult> {
  const args = ['-t', String(load.threads), '-c', String(load.connections), '-d', `${load.durationS}s`, '--timeout', '5s', '--latency'];
  if (host) args.push('-H', `Host: ${host}`);
  for (const h of headers) args.push('-H', h);
  args.push(url);
  const r = await run(wrk, args, (load.durationS + 30) * 1000);
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr || r.stdout}`);
  return parseWrk(r.stdout);
}
