/** Edgeway CLI entry (Node only): validate, build, schema, dev, demo and dns. */
import { parseArgs } from 'node:util';
import { build, bulkPutCommand } from './build.js';
import { compilePaths, formatDiagnostic, summarize, type CompileResult } from './compile.js';
import { DNS_USAGE } from './dns.js';
import { EXPLAIN_USAGE } from './explain.js';
import { SCHEMA_FILE, syncJsonSchema } from './json-schema.js';
import type { Out } from './out.js';

const USAGE = `usage: edgeway <command> [options]

  validate [--strict] [--zone Z]... <dir|file...>
                                     check route files; every problem as file:line:col (default: routes/)
                                     --strict: warnings fail the check too (for CI)
                                     --zone: the Worker's zone (also read from wrangler.toml routes' zone_name);
                                     warns about endpoints outside it that routes reach keeping the client Host
  build [--routes DIR] [--out DIR] [--env NAME]
                                     validate, then write DIR/snapshot.json for \`wrangler kv bulk put\`;
                                     --env: a wrangler.toml environment (staging), written to DIR/NAME/snapshot.json
  environments                       list wrangler.toml's environments (production, then each [env.NAME]), one a
                                     line; exit 1 if one lacks a binding wrangler does not inherit, or shares
                                     another's KV namespace or EDGEWAY_AUDIENCE
  schema [--check]                   regenerate ${SCHEMA_FILE} (--check: exit 1 if it is stale)
  hash-key                           print sha256:<hex> of the API key on stdin (SecurityPolicy apiKeyAuth.keyHashes)
  dev [--routes DIR] [--port N] [--host H] [--env NAME] [--var NAME:VALUE]...
                                     run the gateway locally; route edits are re-validated and published live;
                                     bindings from .dev.vars (next to wrangler.toml) and --var, as wrangler dev;
                                     --env: that wrangler.toml environment's [vars], and .dev.vars.NAME if present
  demo [--var NAME:VALUE]...         stand-in clusters + the dev gateway on 127.0.0.1:8787 (what npm start runs)
  rollout list|pause|resume|abort|promote [NAMESPACE/]NAME --url URL [--token-env VAR]
                                     rollouts through the admin API (token from VAR, default EDGEWAY_ADMIN_TOKEN)
${EXPLAIN_USAGE}
  dev-token [--sub S] [--scope "a b"] [--ttl SECONDS] [--idp URL] [--rotate]
                                     print a JWT from the demo's stand-in identity provider (127.0.0.1:9120);
                                     --rotate: it signs with a new key from now on (the old one stays in its JWKS)
${DNS_USAGE}`;

export type { Out };
const console_: Out = { log: (l) => console.log(l), error: (l) => console.error(l) };

export function printDiagnostics(result: CompileResult, out: Out, toError = false): void {
  for (const d of result.diagnostics) (toError && d.severity === 'error' ? out.error : out.log)(formatDiagnostic(d));
}

export async function main(argv: string[], out: Out = console_): Promise<number> {
  const [command, ...rest] = argv;
  if ((command === 'dev' || command === 'demo') && Number(process.versions.node.split('.')[0]) < 22) {
    out.error(
      `edgeway ${command} needs Node 22 (miniflare); this is ${process.version}. Run it through npm (npm start, npm run edgeway -- ${command}) or npx.`,
    );
    return 1;
  }
  try {
    switch (command) {
      case 'validate': {
        const { positionals, values } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { strict: { type: 'boolean', default: false }, zone: { type: 'string', multiple: true, default: [] } },
        });
        const { readZones } = await import('./zones.js');
        const zones = await readZones(values.zone);
        for (const note of zones.notes) out.log(`note: ${note}`);
        const result = await compilePaths(positionals.length ? positionals : ['routes'], { zones: zones.zones });
        printDiagnostics(result, out);
        out.log(summarize(result));
        if (values.strict && !result.errors && result.warnings) {
          out.error(`--strict: ${result.warnings === 1 ? 'the warning fails' : 'warnings fail'} the check`);
          return 1;
        }
        return result.errors ? 1 : 0;
      }
      case 'build': {
        const { values } = parseArgs({
          args: rest,
          options: {
            routes: { type: 'string', default: 'routes' },
            out: { type: 'string', default: 'kv-seed' },
            env: { type: 'string' },
          },
        });
        const { resolveEnvironmentFlag } = await import('./environments.js');
        const env = await resolveEnvironmentFlag(values.env);
        const result = await build({ routes: [values.routes], outDir: values.out, env });
        printDiagnostics(result.compile, out, true);
        if (!result.plan) {
          out.error(`${summarize(result.compile)}; nothing written`);
          return 1;
        }
        const { snapshot, changed } = result.plan;
        const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
        const counts = `${n(snapshot.routes.length, 'route', 'routes')}, ${n(snapshot.backends.length, 'backend', 'backends')}, ${n(snapshot.policies.length, 'policy', 'policies')}`;
        out.log(`${result.file}: snapshot v${snapshot.version} (${counts})${changed ? '' : ', unchanged'}`);
        out.log(`load it with: ${bulkPutCommand(result.file, env)} --local   (or --remote)`);
        return 0;
      }
      case 'environments': {
        parseArgs({ args: rest, options: {} });
        const { environmentProblems, readEnvironments } = await import('./environments.js');
        const envs = await readEnvironments();
        const problems = environmentProblems(envs);
        for (const p of problems) out.error(`wrangler.toml: ${p}`);
        if (problems.length) return 1;
        for (const e of envs) out.log(e.name);
        return 0;
      }
      case 'schema': {
        const { values } = parseArgs({
          args: rest,
          options: { check: { type: 'boolean', default: false }, out: { type: 'string', default: SCHEMA_FILE } },
        });
        const { upToDate, written } = await syncJsonSchema(values.out, values.check);
        if (values.check) {
          if (!upToDate) out.error(`${values.out} is out of date with src/schema.ts: run \`npm run schema\``);
          else out.log(`${values.out} is up to date`);
          return upToDate ? 0 : 1;
        }
        out.log(written ? `wrote ${values.out}` : `${values.out} is up to date`);
        return 0;
      }
      case 'dev': {
        const { values } = parseArgs({
          args: rest,
          options: {
            routes: { type: 'string', default: 'routes' },
            port: { type: 'string', default: '8787' },
            host: { type: 'string', default: '127.0.0.1' },
            var: { type: 'string', multiple: true, default: [] },
            env: { type: 'string' },
          },
        });
        const { resolveEnvironmentFlag } = await import('./environments.js');
        const env = await resolveEnvironmentFlag(values.env);
        const { runDev } = await import('./dev.js');
        return await runDev({ routesDir: values.routes, port: Number(values.port), host: values.host, vars: values.var, env }, out);
      }
      case 'demo': {
        const { values } = parseArgs({ args: rest, options: { var: { type: 'string', multiple: true, default: [] } } });
        const { runDemo } = await import('./demo.js');
        return await runDemo(out, { vars: values.var });
      }
      case 'explain': {
        const { explainCommand } = await import('./explain.js');
        return await explainCommand(rest, out);
      }
      case 'dns': {
        const { dnsCommand } = await import('./dns.js');
        return await dnsCommand(rest, out);
      }
      case 'dev-token': {
        const { devTokenCommand } = await import('./dev-token.js');
        return await devTokenCommand(rest, out);
      }
      case 'rollout': {
        const { rolloutCommand } = await import('./rollout.js');
        return await rolloutCommand(rest, out);
      }
      case 'hash-key': {
        const { hashKeyCommand, readStdin } = await import('./hash-key.js');
        return await hashKeyCommand(await readStdin(), out);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out.log(USAGE);
        return command === undefined ? 1 : 0;
      default:
        out.error(`edgeway: unknown command "${command}"\n\n${USAGE}`);
        return 1;
    }
  } catch (e) {
    out.error(`edgeway ${command}: ${(e as Error).message}`);
    return 1;
  }
}
