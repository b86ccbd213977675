/** `edgeway dns plan|apply`: points the route files' hostnames at the Worker as Workers Custom Domains, like
 * external-dns: dry run by default, only our worker's custom domains are ever changed, wildcards and names in no zone
 * are reported, not guessed at. */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compilePaths, formatDiagnostic, summarize } from './compile.js';
import { cloudflareClient, CloudflareError, DEFAULT_BASE_URL } from './dns/cloudflare.js';
import { formatPlan, planDns, wantedHostnames, writes, type Change, type Policy } from './dns/plan.js';
import type { Out } from './out.js';

export const DNS_USAGE = `  dns plan|apply [--routes DIR] [--account-id ID] [--service NAME] [--environment ENV]
                 [--hostname H]... [--policy sync|upsert-only] [--yes]
                                     Workers Custom Domains for the route files' hostnames, in the account's
                                     zones (longest suffix); plan prints the diff and never writes; apply
                                     writes it only with --yes. Token: CLOUDFLARE_API_TOKEN; account:
                                     CLOUDFLARE_ACCOUNT_ID or --account-id; worker: --service (default: name in
                                     wrangler.toml). Only custom domains of that worker are changed; --policy
                                     upsert-only never deletes; --hostname adds names no route lists (the
                                     admin hostname). Wildcards need a Worker route: reported, not applied.
`;

/** The top-level `name` of wrangler.toml (before any table), without loading wrangler. */
export function workerName(wranglerPath = 'wrangler.toml'): string | undefined {
  if (!existsSync(wranglerPath)) return undefined;
  const head = readFileSync(wranglerPath, 'utf8').split(/^\s*\[/m)[0]!;
  return /^\s*name\s*=\s*["']([^"'\n]+)["']/m.exec(head)?.[1];
}

const SERVICE = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;

export async function dnsCommand(args: readonly string[], out: Out, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'plan' && sub !== 'apply') {
    out.error(`edgeway dns: expected plan or apply\n\n${DNS_USAGE}`);
    return 1;
  }
  const { values } = parseArgs({
    args: [...rest],
    options: {
      routes: { type: 'string', default: 'routes' },
      'account-id': { type: 'string' },
      service: { type: 'string' },
      environment: { type: 'string', default: 'production' },
      hostname: { type: 'string', multiple: true, default: [] },
      policy: { type: 'string', default: 'sync' },
      yes: { type: 'boolean', default: false },
    },
  });
  if (values.policy !== 'sync' && values.policy !== 'upsert-only') {
    out.error(`edgeway dns: --policy must be sync or upsert-only`);
    return 1;
  }
  const policy: Policy = values.policy;
  const service = values.service ?? workerName();
  if (!service || !SERVICE.test(service)) {
    out.error(
      `edgeway dns: ${service ? `"${service.slice(0, 80)}" is not a Worker name` : 'no worker: pass --service (wrangler.toml has no name)'}`,
    );
    return 1;
  }
  const owner = { service, environment: values.environment };

  const compiled = await compilePaths([values.routes]);
  if (compiled.errors) {
    for (const d of compiled.diagnostics) if (d.severity === 'error') out.error(formatDiagnostic(d));
    out.error(`edgeway dns: the route files have errors (${summarize(compiled)}); nothing planned`);
    return 1;
  }
  try {
    const { wanted, notes } = wantedHostnames(compiled.resources, values.hostname);
    for (const n of notes) out.log(`note: ${n}`);
    const cf = cloudflareClient({
      token: env.CLOUDFLARE_API_TOKEN ?? '',
      accountId: values['account-id'] ?? env.CLOUDFLARE_ACCOUNT_ID ?? '',
      baseUrl: env.CLOUDFLARE_API_BASE_URL || DEFAULT_BASE_URL,
    });
    const [zones, domains] = await Promise.all([cf.zones(), cf.customDomains()]);
    const changes = planDns({ wanted, zones, domains, owner, policy });
    out.log(
      `worker ${service} (${owner.environment}); ${zones.length} zone${zones.length === 1 ? '' : 's'} in the account; ${wanted.size} hostname${wanted.size === 1 ? '' : 's'} in the routes`,
    );
    for (const line of formatPlan(changes, owner)) out.log(line);
    const todo = writes(changes);
    if (sub === 'plan' || !todo.length) {
      if (!todo.length) out.log('no changes');
      else out.log('dry run: nothing written (`edgeway dns apply --yes` applies it)');
      return 0;
    }
    if (!values.yes) {
      out.error('edgeway dns apply: nothing written without --yes (review the plan above)');
      return 1;
    }
    return await apply(cf, todo, owner, out);
  } catch (e) {
    // Our own messages hold no token; scrub anyway, in case a library's ever does.
    const token = env.CLOUDFLARE_API_TOKEN;
    const message = String((e as Error).message ?? e);
    out.error(`edgeway dns: ${token ? message.split(token).join('[redacted]') : message}`);
    return 1;
  }
}

/** Creates and updates first, deletes last; every failure is reported, the rest still applied. */
async function apply(
  cf: ReturnType<typeof cloudflareClient>,
  todo: Change[],
  owner: { service: string; environment: string },
  out: Out,
): Promise<number> {
  const order = { create: 0, update: 0, delete: 1 } as Record<string, number>;
  let failed = 0;
  for (const c of [...todo].sort((a, b) => order[a.action]! - order[b.action]!)) {
    try {
      if (c.action === 'create' || c.action === 'update') {
        // A domain moving to another zone is detached from the old one first.
        if (c.action === 'update' && c.current.zoneId !== c.zone.id) await cf.detach(c.current.id);
        await cf.attach({ hostname: c.hostname, service: owner.service, environment: owner.environment, zoneId: c.zone.id });
      } else if (c.action === 'delete') await cf.detach(c.current.id);
      out.log(`${c.action}d ${c.hostname}`);
    } catch (e) {
      if (!(e instanceof CloudflareError)) throw e;
      failed++;
      out.error(`failed to ${c.action} ${c.hostname}: ${e.message}`);
    }
  }
  out.log(
    failed
      ? `applied ${todo.length - failed} of ${todo.length} changes; ${failed} failed`
      : `applied ${todo.length} change${todo.length === 1 ? '' : 's'}`,
  );
  return failed ? 1 : 0;
}
