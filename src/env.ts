/**
 * The Worker's Env. wrangler.toml's bindings and [vars] are generated into worker-configuration.d.ts by
 * `npm run types` (`wrangler types`; test/unit/env-types.test.ts fails when it is stale). Declared here: the optional
 * variables and the secrets, which wrangler.toml does not list (secrets.required would make them mandatory at deploy).
 */
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Cloudflare {
    interface Env {
      /** "dev" or "test" relaxes production-only rules (loopback upstreams). */
      EDGEWAY_ENV?: string;
      /**
       * Encoded "/" or "\" (%2F, %5C) in a request path, as Envoy Gateway's escapedSlashesAction: KeepUnchanged,
       * RejectRequest, UnescapeForward or UnescapeRedirect (default).
       */
      PATH_ESCAPED_SLASHES?: string;
      /** "off" keeps repeated slashes in request paths; by default "//" is merged to "/" before matching. */
      PATH_MERGE_SLASHES?: string;
      /**
       * Share (0..1, default 1) of successful requests (status below 400, no gateway error) whose access-log line is
       * written; errors and refusals are always logged.
       */
      LOG_SAMPLE_SUCCESS?: string;
      /** Seconds between background refreshes of the routing table (default 5). */
      TABLE_REFRESH_SECONDS?: string;
      /** Operator bearer token (a secret). */
      ADMIN_TOKEN?: string;
      /**
       * Agent keys (a secret): JSON `{"<cluster>": "<key>"}` or, to rotate, `{"<cluster>": {"<key id>": "<key>", ...}}`
       * with at most two keys per cluster. A cluster that leaves this map loses its endpoints after AGENT_STALE_SECONDS.
       */
      AGENT_KEYS?: string;
      /** Seconds without a heartbeat before a cluster's endpoints are marked stale (and, without a key, withdrawn). */
      AGENT_STALE_SECONDS?: string;
      /**
       * Environment id agents must sign as `tag` (e.g. "prod-eu"): set it when two environments share a hostname, so a
       * signature made for one is refused by the other. Unset: the request's host alone is the audience.
       */
      EDGEWAY_AUDIENCE?: string;
      /** When set, the admin API (/_edgeway/v1) answers only on this hostname. */
      ADMIN_HOSTNAME?: string;
      /** "off": the gateway counts no traffic metrics (no rollout analysis then: every check holds). */
      TRAFFIC_METRICS?: string;
      /** Width of a traffic-metrics bucket in seconds (default 10; tests use 1). */
      METRICS_BUCKET_SECONDS?: string;
      /** An isolate flushes its metrics at most this often, in seconds (default 10; tests use 1). */
      METRICS_FLUSH_SECONDS?: string;
    }
  }
}

/** Generated bindings (ROUTES, DEBUG_HEADERS, RATE_LIMITER, COORDINATOR, HEALTH) and the declarations above. */
export type Env = Cloudflare.Env;
