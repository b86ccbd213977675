/** Debian tools the bench needs (wrk, nginx, haproxy): found on PATH, or installed with apt-get when running as root. */
import { run, which } from './procs.js';

export interface Tool {
  name: string;
  path: string | null;
  /** Why it is missing, for the report. */
  missing?: string;
}

const PACKAGES: Record<string, string> = { wrk: 'wrk', nginx: 'nginx-light', haproxy: 'haproxy' };
const SBIN: Record<string, string> = { nginx: '/usr/sbin/nginx', haproxy: '/usr/sbin/haproxy' };

let aptUpdated = false;

async function find(name: string): Promise<string | null> {
  return (await which(name)) ?? (SBIN[name] && (await which(SBIN[name])) ? SBIN[name] : null);
}

/** Returns each tool's path, installing the missing ones in one apt-get call when root. */
export async function ensureTools(names: string[]): Promise<Record<string, Tool>> {
  const out: Record<string, Tool> = {};
  for (const name of names) out[name] = { name, path: await find(name) };
  const missing = names.filter((n) => !out[n]!.path);
  if (missing.length === 0) return out;
  const pkgs = missing.map((n) => PACKAGES[n] ?? n);
  if (process.getuid?.() !== 0) {
    for (const n of missing) out[n]!.missing = `not installed and not root: run \`sudo apt-get install -y ${PACKAGES[n] ?? n}\``;
    return out;
  }
  console.log(`bench: installing ${pkgs.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    await run('apt-get', ['update', '-qq'], 240_000, { env });
    aptUpdated = true;
  }
  const r = await run('apt-get', ['install', '-y', '-qq', ...pkgs], 300_000, { env });
  for (const n of missing) {
    out[n]!.path = await find(n);
    if (!out[n]!.path)
      out[n]!.missing = `apt-get install ${PACKAGES[n] ?? n} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`;
  }
  return out;
}

/** First line of `<tool> -v`-style output, for the machine description. */
export async function toolVersion(path: string | null, args: string[]): Promise<string> {
  if (!path) return 'not installed';
  const r = await run(path, args, 10_000).catch(() => null);
  const text = `${r?.stdout ?? ''}\n${r?.stderr ?? ''}`.trim();
  return text.split('\n')[0]?.trim() || 'unknown';
}
