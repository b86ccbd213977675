/** `edgeway rollout list|pause|resume|abort|promote`: the admin API's rollout endpoints from a terminal (Node only). */
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import type { RolloutInfo } from '../admin/rollouts.js';
import type { Out } from './out.js';

export const ROLLOUT_USAGE = `  rollout list|pause|resume|abort|promote [NAMESPACE/]NAME --url URL [--token-env VAR]
                                     list rollouts (step, weights, last analysis and why) or change one;
                                     URL: the gateway (its admin API is URL/_edgeway/v1); the operator token is
                                     read from the environment variable VAR (default EDGEWAY_ADMIN_TOKEN)
`;

const VERBS = new Set(['pause', 'resume', 'abort', 'promote']);

/** One rollout as GET /_edgeway/v1/rollouts answers it: the admin API's own contract, not a copy. */
type View = z.infer<typeof RolloutInfo>;

const line = (v: View) => {
  const w = v.weights ? `stable ${v.weights.stable}% / canary ${v.weights.canary}%` : 'no weights';
  const a = v.lastAnalysis
    ? ` | last check: ${v.lastAnalysis.verdict} (${v.lastAnalysis.canary.requests} canary requests, ${(v.lastAnalysis.canary.errorRate * 100).toFixed(2)}% errors, P99 ${v.lastAnalysis.canary.p99Ms === null ? 'n/a' : `${Math.round(v.lastAnalysis.canary.p99Ms)}ms`})`
    : '';
  return `${v.namespace}/${v.name}  ${v.phase}  step ${v.step}/${v.steps}  ${w}  failed ${v.failedChecks}/${v.threshold}${a}\n    ${v.message}`;
};

export async function rolloutCommand(
  args: string[],
  out: Out,
  env: NodeJS.ProcessEnv = process.env,
  fetchFn: typeof fetch = fetch,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { url: { type: 'string' }, 'token-env': { type: 'string', default: 'EDGEWAY_ADMIN_TOKEN' }, json: { type: 'boolean' } },
  });
  const [verb, target] = positionals;
  if (!verb || (verb !== 'list' && !VERBS.has(verb))) {
    out.error(`usage:\n${ROLLOUT_USAGE}`);
    return 2;
  }
  if (!values.url) {
    out.error('edgeway rollout: --url is required (the gateway, e.g. https://edge.example.com)');
    return 2;
  }
  const tokenVar = values['token-env']!;
  const token = env[tokenVar];
  if (!token) {
    out.error(`edgeway rollout: the environment variable ${tokenVar} (the operator token) is not set`);
    return 2;
  }
  let base: URL;
  try {
    base = new URL(values.url);
  } catch {
    out.error(`edgeway rollout: --url ${JSON.stringify(values.url)} is not a URL`);
    return 2;
  }
  const api = (path: string) => new URL(`${base.pathname.replace(/\/$/, '')}/_edgeway/v1${path}`, base);
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (verb === 'list') {
    const res = await fetchFn(api('/rollouts'), { headers });
    if (!res.ok) return fail(out, res);
    const views = (await res.json()) as View[];
    if (values.json) out.log(JSON.stringify(views, null, 2));
    else if (!views.length) out.log('no rollouts published');
    else for (const v of views) out.log(line(v));
    return 0;
  }
  const m = /^(?:([a-z0-9-]+)\/)?([a-z0-9.-]+)$/.exec(target ?? '');
  if (!m) {
    out.error(`edgeway rollout ${verb}: name the rollout as NAME or NAMESPACE/NAME`);
    return 2;
  }
  const res = await fetchFn(api(`/rollouts/${m[1] ?? 'default'}/${m[2]}/${verb}`), { method: 'POST', headers });
  if (!res.ok) return fail(out, res);
  const v = (await res.json()) as View;
  out.log(values.json ? JSON.stringify(v, null, 2) : line(v));
  return 0;
}

async function fail(out: Out, res: Response): Promise<number> {
  let error = `${res.status}`;
  try {
    error = `${res.status}: ${((await res.json()) as { error?: string }).error ?? ''}`;
  } catch {
    /* not JSON */
  }
  out.error(`edgeway rollout: ${error}`);
  return 1;
}
