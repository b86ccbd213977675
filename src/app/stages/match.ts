/** Route matching: the rule that serves the request, and its plan (compiled with the table, src/table/plan.ts). */
import type { CompiledTable } from '../../table.js';
import { fail, type Stage } from '../context.js';

/** Whether any rule matches on query parameters; if none does, the request's query is never parsed. */
const matchesQuery = (table: CompiledTable) =>
  table.snapshot.routes.some((r) => r.spec.rules.some((rule) => rule.matches.some((m) => (m.queryParams?.length ?? 0) > 0)));

export const match: Stage = {
  name: 'match',
  build: (table) => {
    if (!table) return async (ctx) => fail(ctx, 'table_unavailable');
    const { matcher, plans } = table;
    const noQuery = matchesQuery(table) ? undefined : new URLSearchParams();
    return (ctx, next) => {
      const { request, url, host } = ctx;
      const m = matcher.match({
        host,
        path: url.pathname,
        method: request.method,
        headers: request.headers,
        query: noQuery ?? url.searchParams,
      });
      if (!m) return Promise.resolve(fail(ctx, 'no_route', `${request.method} ${host}${url.pathname}`));
      ctx.match = m;
      ctx.plan = plans.forMatch(m);
      ctx.served.route = ctx.plan.id;
      return next(ctx);
    };
  },
};
