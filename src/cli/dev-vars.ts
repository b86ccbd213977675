/** Local secrets for `edgeway dev` and the demo: `.dev.vars` (dotenv, as `wrangler dev` reads it) and `--var NAME:VALUE`. */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseEnv } from 'node:util';

/** A binding name: what `env.NAME` can reach, and nothing that would touch an object's prototype. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);
/** A secrets file is a few lines; anything bigger is a mistake (or not a secrets file). */
export const MAX_DEV_VARS_BYTES = 64 * 1024;

export interface DevVars {
  /** Names to values. Never print the values. */
  vars: Record<string, string>;
  /** Problems for the user, located by file:line or flag, never quoting a value. */
  problems: string[];
}

const empty = (): Record<string, string> => Object.create(null) as Record<string, string>;

/**
 * Parses dotenv text the way wrangler does (Node's parseEnv is dotenv-compatible: `export` prefixes, comments,
 * single/double/backtick quotes, multi-line double-quoted values). Lines that are not `NAME=value` are reported by
 * line number only, since a malformed line may well be a secret pasted without its name.
 */
export function parseDevVars(text: string, file: string): DevVars {
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let open: string | undefined; // quote character of a value that continues on the next line
  lines.forEach((line, i) => {
    if (open) {
      if (line.includes(open)) open = undefined;
      return;
    }
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(trimmed);
    if (!m) return problems.push(`${file}:${i + 1}: not NAME=value; line ignored`);
    const [, name, value] = m as unknown as [string, string, string];
    if (!NAME.test(name) || RESERVED.has(name))
      // Not even the name is quoted: a base64 secret pasted alone ends in "=" and would read as one.
      problems.push(`${file}:${i + 1}: the name is not a usable binding name (letters, digits, _); line ignored`);
    const quote = value[0];
    if ((quote === '"' || quote === "'" || quote === '`') && !value.slice(1).includes(quote)) open = quote;
  });
  if (open) problems.push(`${file}: a quoted value is never closed`);
  const vars = empty();
  let parsed: NodeJS.Dict<string>;
  try {
    parsed = parseEnv(text.replace(/^\uFEFF/, ''));
  } catch {
    return { vars, problems: [...problems, `${file}: cannot be parsed as dotenv`] };
  }
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'string' || !NAME.test(name) || RESERVED.has(name)) continue;
    vars[name] = value;
  }
  return { vars, problems };
}

/**
 * `.dev.vars` next to the wrangler config, as `wrangler dev` looks for it; with an environment, `.dev.vars.<env>`
 * instead when that file exists (wrangler dev --env reads one or the other, never both). Missing is fine; unreadable
 * is a problem.
 */
export async function loadDevVars(configPath = 'wrangler.toml', env?: string): Promise<DevVars & { file?: string }> {
  const file = path.join(path.dirname(configPath), '.dev.vars');
  if (env !== undefined) {
    const forEnv = await loadDevVarsFile(`${file}.${env}`);
    if (forEnv.file !== undefined || forEnv.problems.length) return forEnv;
  }
  return loadDevVarsFile(file);
}

async function loadDevVarsFile(file: string): Promise<DevVars & { file?: string }> {
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) return { vars: empty(), problems: [`${file}: not a regular file; ignored`] };
    size = s.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { vars: empty(), problems: [] } : { vars: empty(), problems: [`${file}: cannot be read (${code})`] };
  }
  if (size > MAX_DEV_VARS_BYTES) return { vars: empty(), problems: [`${file}: larger than ${MAX_DEV_VARS_BYTES} bytes; ignored`] };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return { vars: empty(), problems: [`${file}: cannot be read (${(e as NodeJS.ErrnoException).code})`] };
  }
  return { file, ...parseDevVars(text, file) };
}

/** `--var NAME:VALUE` flags (wrangler dev's syntax; the value may contain ":"). A bad flag is reported, not guessed. */
export function parseVarFlags(flags: readonly string[]): DevVars {
  const vars = empty();
  const problems: string[] = [];
  flags.forEach((flag, i) => {
    const colon = flag.indexOf(':');
    const name = colon < 0 ? '' : flag.slice(0, colon);
    if (colon < 0) problems.push(`--var #${i + 1}: expected NAME:VALUE`);
    else if (!NAME.test(name) || RESERVED.has(name))
      problems.push(`--var #${i + 1}: the name is not a usable binding name (letters, digits, _)`);
    else vars[name] = flag.slice(colon + 1);
  });
  return { vars, problems };
}

/** One line saying which names were set and from where; values are never shown (wrangler prints "(hidden)" too). */
export function describeVars(vars: Record<string, string>, from: string): string | undefined {
  const names = Object.keys(vars).sort();
  return names.length ? `using ${from}: ${names.map((n) => `${n} (hidden)`).join(', ')}` : undefined;
}
