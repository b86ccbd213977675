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
  agentVersion?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export class EdgeClient {
  constructor(private readonly o: EdgeClientOptions) {}

  private async post(path: string, body: unknown): Promise<unknown> {
    const text = JSON.stringify(body);
    const fullPath = `${ADMIN_PREFIX}${path}`;
    const headers = await signRequest({
      secret: this.o.key,
      cluster: this.o.cluster,
      method: 'POST',
      path: fullPath,
      body: text,
      now: (this.o.now ?? Date.now)(),
    });
    let res: Response;
    try {
      res = await (this.o.fetch ?? fetch)(`${this.o.edgeUrl}${fullPath}`, {
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
