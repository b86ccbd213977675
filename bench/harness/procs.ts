/** Child processes and cleanups of a bench run: everything started is stopped on exit, error or signal. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';

type Cleanup = () => unknown;
const cleanups: Cleanup[] = [];
const children = new Set<ChildProcess>();

const exitCleanups: (() => void)[] = [];
/**
 * Registers a synchronous cleanup that also runs in the 'exit' handler: libraries such as Miniflare may call
 * process.exit() on a signal before our async cleanups finish.
 */
export function onExitSync(fn: () => void): void {
  exitCleanups.push(fn);
  onCleanup(fn);
}

/** Registers a cleanup; they run in reverse order at the end of the run or on a signal. */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

export async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await Promise.race([fn(), new Promise((r) => setTimeout(r, 5000))]);
    } catch (e) {
      console.error('cleanup failed:', e);
    }
  }
  for (const c of children) killTree(c, 'SIGKILL');
}

function killTree(c: ChildProcess, signal: NodeJS.Signals): void {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  try {
    // Children are started detached in their own process group, so this reaches nginx/haproxy workers too.
    process.kill(-c.pid, signal);
  } catch {
    try {
      c.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

let installed = false;
/** Kills children synchronously on exit and runs the async cleanups on SIGINT/SIGTERM. */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const c of children) killTree(c, 'SIGKILL');
    for (const fn of exitCleanups.splice(0))
      try {
        fn();
      } catch {
        /* best effort at exit */
      }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(sig, () => {
      console.error(`\nbench: ${sig}, stopping everything`);
      void cleanupAll().finally(() => process.exit(130));
    });
}

export interface Started {
  proc: ChildProcess;
  /** Last lines of stderr+stdout, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts a long-running child in its own process group; it is stopped by stop() or at cleanup. */
export function start(cmd: string, args: string[], opts: SpawnOptions = {}): Started {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  children.add(proc);
  let buf = '';
  const keep = (d: Buffer) => {
    buf = (buf + d.toString()).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  proc.on('exit', () => children.delete(proc));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    killTree(proc, 'SIGTERM');
    const t = setTimeout(() => killTree(proc, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  onCleanup(stop);
  return { proc, output: () => buf, stop };
}

/**
 * Like start(), but the child's stdout and stderr go straight to a file opened for appending: the child never
 * blocks on a full pipe and this Node process spends nothing on its output. The file can be read and truncated
 * between runs (appends continue at the new end).
 */
export function startToFile(cmd: string, args: string[], logPath: string, opts: SpawnOptions = {}): Started {
  const fd = openSync(logPath, 'a');
  const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, ...opts });
  closeSync(fd);
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    killTree(proc, 'SIGTERM');
    const t = setTimeout(() => killTree(proc, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  onCleanup(stop);
  return { proc, output: () => '', stop };
}

/** Runs a command to completion and returns its output; the child is killed if it outlives timeoutMs. */
export function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
  opts: SpawnOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    children.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (e) => {
      clearTimeout(t);
      children.delete(proc);
      reject(e);
    });
    proc.on('close', (code) => {
      clearTimeout(t);
      children.delete(proc);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Resolves once something accepts TCP connections on the port, or rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs: number, what: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Finds an executable on PATH. */
export async function which(name: string): Promise<string | null> {
  const r = await run('sh', ['-c', `command -v ${name}`], 5000).catch(() => null);
  const path = r?.stdout.trim();
  return r && r.code === 0 && path ? path : null;
}
