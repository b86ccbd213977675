/** `edgeway explain`: asks a running gateway's admin API (POST /_edgeway/v1/explain) what it would do with a request. */
import { parseArgs } from 'node:util';
import type { Explanation } from '../admin/explain.js';
import type { Out } from './out.js';

export const EXPLAIN_USAGE = `  explain --url URL --host HOST [--path PATH] [--method M] [--header 'Name: value']... [--json]
                                     which route, rule, backend and endpoint the gateway at URL would choose for
                                     the request, and why (nothing is forwarded); operator token from
                                     $EDGEWAY_ADMIN_TOKEN or $ADMIN_TOKEN`;

/** Parses argv, calls the API and prints the explanation; exit code 0 when it answered (whatever the outcome). */
export async function explainCommand(
  argv: string[],
  out: Out,
  env: NodeJS.ProcessEnv = process.env,
  fetchImpl: typeof fetch = fetch,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      host: { type: 'string' },
      path: { type: 'string', default: '/' },
      method: { type: 'string', default: 'GET' },
      header: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.url || !values.host) {
    out.error(`edgeway explain: --url and --host are required\n${EXPLAIN_USAGE}`);
    return 1;
  }
  const token = env.EDGEWAY_ADMIN_TOKEN ?? env.ADMIN_TOKEN;
  if (!token) {
    out.error('edgeway explain: set EDGEWAY_ADMIN_TOKEN (or ADMIN_TOKEN) to the operator token');
    return 1;
  }
  const headers: Record<string, string> = {};
  for (const h of values.header) {
    const i = h.indexOf(':');
    if (i <= 0) {
      out.error(`edgeway explain: --header "${h}" is not "Name: value"`);
      return 1;
    }
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const endpoint = new URL('/_edgeway/v1/explain', values.url);
  const res = await fetchImpl(endpoint, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ host: values.host, path: values.path, method: values.method.toUpperCase(), headers }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) {
    out.error(`edgeway explain: ${endpoint.origin} answered ${res.status}: ${text.trim()}`);
    return 1;
  }
  const x = JSON.parse(text) as Explanation;
  if (values.json) {
    out.log(JSON.stringify(x, null, 2));
    return 0;
  }
  for (const line of formatExplanation(x)) out.log(line);
  return 0;
}

export function formatExplanation(x: Explanation): string[] {
  const lines = [`${x.request.method} ${x.request.host}${x.request.path}  (table v${x.version ?? '-'})`];
  if (x.outcome === 'forward')
    lines.push(
      `=> ${x.route?.rule} -> ${x.backend?.key}${x.endpoint ? ` -> ${x.endpoint.cluster} ${x.endpoint.url}` : ' -> no usable endpoint'}`,
    );
  else if (x.outcome === 'redirect') lines.push(`=> redirect ${x.status} ${x.location}`);
  else lines.push(`=> refused ${x.status ?? ''} ${x.code ?? ''}`.trimEnd());
  x.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s.stage}: ${s.outcome} - ${s.detail}`));
  if (x.backend) {
    lines.push(`  endpoints of ${x.backend.key}${x.backend.panic ? ' (panic mode)' : ''}:`);
    for (const e of x.backend.endpoints)
      lines.push(
        `    ${e.usable ? 'usable ' : 'skipped'} ${String(Math.round(e.share * 100)).padStart(3)}%  p${e.priority}  ${e.cluster}${e.region ? ` (${e.region})` : ''}  ${e.url}${e.reasons.length ? `  - ${e.reasons.join('; ')}` : ''}`,
      );
  }
  return lines;
}
