/** What the figures were measured on: they only mean something next to the machine and its load. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { run } from './procs.js';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memory: string;
  node: string;
  workerd: string;
  /** 1/5/15-minute load averages when the run started (the machine is shared). */
  loadAtStart: string;
  /** Same, when the run ended. */
  loadAtEnd?: string;
  kernel: string;
}

export const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');

export async function describeMachine(): Promise<Machine> {
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    /* not Linux */
  }
  const nproc = await run('nproc', [], 5000)
    .then((r) => Number(r.stdout.trim()))
    .catch(() => os.availableParallelism());
  const workerd = await run(join(process.cwd(), 'node_modules', '.bin', 'workerd'), ['--version'], 10_000)
    .then((r) => (r.stdout.trim() || r.stderr.trim()).replace(/^workerd\s+/, ''))
    .catch(() => 'unknown');
  return {
    nproc,
    cpuModel,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    workerd,
    loadAtStart: loadAverage(),
    kernel: `${os.type()} ${os.release()}`,
  };
}
