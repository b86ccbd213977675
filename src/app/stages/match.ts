/** Route matching: the rule that serves the request, and its plan (compiled with the table, src/table/plan.ts). */
import { fail, type Stage } from '../context.js';

export const match: Stage = {
  name: 'match',
  build: (table) => {
    if (!table) return async (ctx) => fail(ctx, 'table_unavailable');
    const { matcher, plans } = table;
    return async (ctx, next) => {
      const { request, url } = ctx;
      const m = matcher.match({
        host: ctx.host,
        path: url.pathname,
        method: request.method,
        headers: request.headers,
        query: url.searchParams,
      });
      if (!m) return fail(ctx, 'no_route', `${request.method} ${ctx.host}${url.pathname}`);
      ctx.match = m;
      ctx.plan = plans.forMatch(m);
      ctx.served.route = ctx.plan.id;
      return next(ctx);
    };
  },
};
