/** Gives `env` from cloudflare:test the Worker's own binding types. */
import type { Env as EdgewayEnv } from '../src/env.js';

declare global {
  namespace Cloudflare {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface Env extends EdgewayEnv {}
  }
}
export {};
