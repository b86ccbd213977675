/** GET /_edgeway/health body: a Hono-free Response built from IsolateHealth.describe(). */
import type { HealthView } from '../health.js';

/** Serves the view as JSON, never cached. Access control (loopback / admin token) is the caller's job. */
export function healthPage(view: HealthView): Response {
  return new Response(JSON.stringify(view, null, 2), {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}
