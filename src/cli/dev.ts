/** `edgeway dev`: the local gateway with live reload of the route files. */
import { formatDiagnostic, summarize } from './compile.js';
import { CompileError, startDevGateway, type DevGateway, type ReloadEvent } from './dev-server.js';
import { describeVars, loadDevVars, parseVarFlags } from './dev-vars.js';
import type { Out } from './out.js';

/** The admin API refuses shorter operator tokens (src/admin/auth.ts). */
const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * Bindings from `.dev.vars` (next to wrangler.toml, as `wrangler dev` reads it; `.dev.vars.<env>` instead when an
 * environment is given and that file exists) with `--var NAME:VALUE` flags on top. Names are printed, values never.
 * Undefined (after printing why) when a flag is malformed.
 */
export async function localBindings(
  varFlags: readonly string[],
  out: Out,
  configPath = 'wrangler.toml',
  env?: string,
): Promise<Record<string, string> | undefined> {
  const file = await loadDevVars(configPath, env);
  for (const p of file.problems) out.error(`warning: ${p}`);
  const flags = parseVarFlags(varFlags);
  for (const p of flags.problems) out.error(p);
  if (flags.problems.length) return undefined;
  for (const line of [describeVars(file.vars, file.file ?? '.dev.vars'), describeVars(flags.vars, '--var')]) if (line) out.log(line);
  const vars = { ...file.vars, ...flags.vars };
  if (vars.ADMIN_TOKEN !== undefined && vars.ADMIN_TOKEN.length < MIN_ADMIN_TOKEN_LENGTH)
    out.error(`warning: ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: the admin API will refuse every call`);
  return vars;
}

/** Resolves on the first Ctrl-C or SIGTERM. */
export const untilSignal = () =>
  new Promise<string>((resolve) => {
    const done = (signal: string) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });

export function reportReload(e: ReloadEvent, out: Out): void {
  const stamp = new Date().toLocaleTimeString();
  if (!e.ok) {
    for (const d of e.result.diagnostics) (d.severity === 'error' ? out.error : out.log)(formatDiagnostic(d));
    out.error(`[${stamp}] ${summarize(e.result)}: still serving table v${e.version}`);
    return;
  }
  for (const d of e.result.diagnostics) out.log(formatDiagnostic(d));
  out.log(
    e.changed ? `[${stamp}] published table v${e.version} (${summarize(e.result)})` : `[${stamp}] no resource changed: still v${e.version}`,
  );
}

/** Starts the gateway, printing located errors instead of starting when the routes are broken. */
export async function startReporting(
  options: { routesDir: string; port: number; host: string; bindings?: Record<string, string>; env?: string },
  out: Out,
): Promise<DevGateway | undefined> {
  try {
    return await startDevGateway({ ...options, watch: true, onReload: (e) => reportReload(e, out) });
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    for (const d of e.result.diagnostics) (d.severity === 'error' ? out.error : out.log)(formatDiagnostic(d));
    out.error(`${summarize(e.result)}: fix the route files and start again`);
    return undefined;
  }
}

export async function runDev(
  options: { routesDir: string; port: number; host: string; vars?: readonly string[]; env?: string },
  out: Out,
): Promise<number> {
  const { vars: varFlags = [], ...rest } = options;
  const bindings = await localBindings(varFlags, out, 'wrangler.toml', options.env);
  if (!bindings) return 1;
  const gw = await startReporting({ ...rest, bindings }, out);
  if (!gw) return 1;
  const env = options.env === undefined ? '' : ` with [env.${options.env}]'s bindings`;
  out.log(`edgeway dev: gateway on ${gw.url}${env} serving ${options.routesDir}/ as table v${gw.version()}`);
  out.log(`  edits to ${options.routesDir}/ are validated and published live; Ctrl-C stops`);
  await untilSignal();
  await gw.dispose();
  return 0;
}
