/** Bindings the admin API and the coordinator read, on top of the gateway's Env. */
import type { Env } from '../env.js';

export interface AdminEnv extends Env {
  /** Secret: JSON object mapping cluster name -> HMAC key (at least 16 characters). `wrangler secret put AGENT_KEYS`. */
  AGENT_KEYS?: string;
  /** Seconds without a heartbeat after which a cluster's endpoints are marked stale (default 90). */
  AGENT_STALE_SECONDS?: string;
}

/** The coordinator is one Durable Object instance with this name. */
export const COORDINATOR_NAME = 'global';
