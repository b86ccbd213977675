/** Worker entry: the Edgeway gateway app and its Durable Object classes. */
import { app } from './app/index.js';

export { RateLimiterDO } from './ratelimit/durable-object.js';
export { CoordinatorDO } from './admin/durable-object.js';
export { HealthCheckerDO } from './health/durable-object.js';
export { MetricsDO } from './metrics/durable-object.js';
export { RolloutDO } from './rollout/durable-object.js';
export default app;
