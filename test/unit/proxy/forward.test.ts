import { describe, expect, it } from 'vitest';
import { forward, type ForwardOptions } from '../../../src/proxy/forward.js';

type Behaviour = 'ok' | 'refuse' | 503 | 'hang';

function harness(endpoints: Behaviour[], overrides: Partial<ForwardOptions<number>> = {}) {
  const sent: number[] = [];
  const reports: [number, string][] = [];
  const options: ForwardOptions<number> = {
    next: (tried, allowRepeat) => {
      const free = endpoints.map((_, i) => i).filter((i) => !tried.includes(i));
      const pick = free[0] ?? (allowRepeat ? tried[0] : undefined);
      return pick === undefined
        ? null
        : { handle: pick, request: (signal) => new Request(`http://e${pick}.test/`, { headers: { 'x-e': String(pick) }, signal }) };
    },
    report: (h, outcome) => reports.push([h, outcome]),
    fetch: async (req) => {
      const i = Number(req.headers.get('x-e'));
      sent.push(i);
      const b = endpoints[i]!;
      if (b === 'refuse') throw new Error('Network connection lost.');
      if (b === 'hang') {
        // Outlive the attempt timer, then fail the way fetch does once its signal has aborted.
        await new Promise((r) => setTimeout(r, 150));
        if (req.signal.aborted) throw Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
        return new Response('late');
      }
      return new Response(b === 'ok' ? `from ${i}` : 'unavailable', { status: b === 'ok' ? 200 : b });
    },
    now: () => 0,
    sleep: async () => {},
    backoff: () => 0,
    replayable: true,
    retry: { attempts: 1, codes: [503], backoffMs: 0 },
    connectRetries: 3,
    backendRequestMs: 50,
    ...overrides,
  };
  return { sent, reports, run: () => forward(options) };
}

describe('forward', () => {
  it('backendRequestMs 0 ("0s") sets no attempt timer: a slow endpoint still answers', async () => {
    let signal: AbortSignal | undefined;
    const r = await forward<number>({
      next: (tried) => (tried.length ? null : { handle: 0, request: (s) => new Request('http://e0.test/', { signal: (signal = s) }) }),
      report: () => {},
      fetch: async (req) => {
        await new Promise((res) => setTimeout(res, 120));
        return new Response(req.signal.aborted ? 'aborted' : 'slow but fine');
      },
      now: () => 0,
      sleep: async () => {},
      backoff: () => 0,
      replayable: true,
      retry: { attempts: 1, codes: [], backoffMs: 0 },
      connectRetries: 0,
      backendRequestMs: 0,
    });
    expect(await r.response?.text()).toBe('slow but fine');
    expect(signal?.aborted).toBe(false);
  });

  it('skips a refusing endpoint and succeeds on the next', async () => {
    const h = harness(['refuse', 'ok']);
    const r = await h.run();
    expect(await r.response?.text()).toBe('from 1');
    expect(h.reports).toEqual([
      [0, 'connect-failure'],
      [1, 'success'],
    ]);
  });

  it('does not retry a request that cannot be replayed', async () => {
    const h = harness(['refuse', 'ok'], { replayable: false });
    const r = await h.run();
    expect(r.error).toBe('upstream_unreachable');
    expect(h.sent).toEqual([0]);
  });

  it('stops retrying when the budget says no', async () => {
    const h = harness(['refuse', 'ok'], { budget: { tryRetry: () => false } });
    expect((await h.run()).error).toBe('upstream_unreachable');
  });

  it('retries listed statuses on another endpoint, and returns the last answer as received', async () => {
    const h = harness([503, 503], { retry: { attempts: 3, codes: [503], backoffMs: 0 } });
    const r = await h.run();
    expect(r.response?.status).toBe(503);
    expect(await r.response?.text()).toBe('unavailable');
    expect(h.sent).toEqual([0, 1, 0]);
  });

  it('does not retry statuses that are not listed', async () => {
    const h = harness([503, 'ok'], { retry: { attempts: 3, codes: [502], backoffMs: 0 } });
    expect((await h.run()).response?.status).toBe(503);
    expect(h.sent).toEqual([0]);
  });

  it('times out one attempt with 504 upstream_timeout', async () => {
    const h = harness(['hang']);
    const r = await h.run();
    expect(r.error).toBe('upstream_timeout');
    expect(h.reports).toEqual([[0, 'timeout']]);
  });

  it('answers no_ready_endpoint when nothing is usable', async () => {
    const h = harness([]);
    expect((await h.run()).error).toBe('no_ready_endpoint');
  });
});
