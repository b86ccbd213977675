/** Signed calls from the agent to the edge's admin API, with errors sorted into soft (retry) and fatal (exit). */
import type { ReportedEndpoint } from '../admin/api.js';
import { signRequest } from '../admin/signing.js';
import type { Policy } from './plan.js';

export const ADMIN_PREFIX = '/_edgeway/v1';

/** Worth retrying: network trouble, timeouts, 5xx, 429. */
export class SoftError extends Error {
  override name = 'SoftError';
}
/** Retrying cannot help (bad credentials, clock skew, a report the edge rejects): the process should exit. */
export class FatalError extends Error {
  override name = 'FatalError';
}

export interface EdgeClientOptions {
  edgeUrl: string;
  cluster: string;
  key: string;
  /** Id of `key` in the edge's AGENT_KEYS (`{"<cluster>": {"<key id>": ...}}`). Omitted: the edge tries the cluster's keys. */
  keyId?: string | undefined;
  /** The edge's EDGEWAY_AUDIENCE, when it sets one (signed as `tag`). */
  audience?: string | undefined;
  agentVersion?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export class EdgeClient {
  constructor(private readonly o: EdgeClientOptions) {}

  private async post(path: string, body: unknown): Promise<unknown> {
    const text = JSON.stringify(body);
    const url = `${this.o.edgeUrl}${ADMIN_PREFIX}${path}`;
    // RFC 9421 signature (src/admin/signing.ts, the module the Worker verifies with): bound to the edge's host.
    const headers = await signRequest({
      secret: this.o.key,
      keyid: this.o.keyId ? `${this.o.cluster}/${this.o.keyId}` : this.o.cluster,
      method: 'POST',
      url,
      body: text,
      now: (this.o.now ?? Date.now)(),
      tag: this.o.audience,
    });
    let res: Response;
    try {
      res = await (this.o.fetch ?? fetch)(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: text,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new SoftError(`edge unreachable: ${(err as Error).name}: ${(err as Error).message}`);
    }
    const detail = await res.text().catch(() => '');
    if (res.ok) return detail ? JSON.parse(detail) : null;
    const msg = `edge answered ${res.status} to POST ${path}: ${detail.slice(0, 500)}`;
    if (res.status >= 500 || res.status === 429 || res.status === 408) throw new SoftError(msg);
    throw new FatalError(msg);
  }

  push(policy: Policy, endpoints: ReportedEndpoint[]) {
    return this.post('/agent/endpoints', {
      cluster: this.o.cluster,
      policy,
      endpoints,
      ...(this.o.agentVersion ? { agentVersion: this.o.agentVersion } : {}),
    }) as Promise<{ version: number; changed: boolean; endpoints: number }>;
  }

  heartbeat() {
    return this.post('/agent/heartbeat', {
      cluster: this.o.cluster,
      ...(this.o.agentVersion ? { agentVersion: this.o.agentVersion } : {}),
    });
  }
}
