/** GET /_edgeway/health body: a Hono-free Response built from IsolateHealth.describe(). */
import type { HealthView } from '../health.js';

/** Serves the view as JSON, never cached. The caller checks the operator first (checkOperator in src/admin/auth.ts). */
export function healthPage(view: HealthView): Response {
  return new Response(JSON.stringify(view, null, 2), {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}
