/** Test Worker entry for the agent end-to-end test: the gateway (src/index.ts) with the admin API and coordinator mounted
 * as the lead is asked to mount them in src/index.ts. */
import { Hono } from 'hono';
import gateway from '../../../../src/index.js';
import { ADMIN_BASE_PATH, adminApp } from '../../../../src/admin/app.js';
export { CoordinatorDO } from '../../../../src/admin/coordinator.js';

const root = new Hono();
root.route(ADMIN_BASE_PATH, adminApp);
root.all('*', (c) =>
  (gateway as { fetch: (r: Request, e: unknown, x: unknown) => Response | Promise<Response> }).fetch(c.req.raw, c.env, c.executionCtx),
);

export default root;
