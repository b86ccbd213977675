/** `edgeway dev`: the local gateway with live reload of the route files. */
import { formatDiagnostic, summarize } from './compile.js';
import { CompileError, startDevGateway, type DevGateway, type ReloadEvent } from './dev-server.js';
import type { Out } from './main.js';

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
  options: { routesDir: string; port: number; host: string },
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

export async function runDev(options: { routesDir: string; port: number; host: string }, out: Out): Promise<number> {
  const gw = await startReporting(options, out);
  if (!gw) return 1;
  out.log(`edgeway dev: gateway on ${gw.url} serving ${options.routesDir}/ as table v${gw.version()}`);
  out.log(`  edits to ${options.routesDir}/ are validated and published live; Ctrl-C stops`);
  await untilSignal();
  await gw.dispose();
  return 0;
}
