/** Bindings the admin API and the coordinator read, on top of the gateway's Env. */
import type { Env } from '../env.js';

/** The admin API reads the gateway's own bindings, AGENT_KEYS and AGENT_STALE_SECONDS included. */
export type AdminEnv = Env;

/** The coordinator is one Durable Object instance with this name. */
export const COORDINATOR_NAME = 'global';
