import { describe, expect, it } from 'vitest';
import { rolloutCommand } from '../../../src/cli/rollout.js';

const view = {
  name: 'shop',
  namespace: 'default',
  target: { route: 'default/shop', rule: 'main' },
  phase: 'Progressing',
  step: 2,
  steps: 3,
  weights: { stable: 75, canary: 25 },
  failedChecks: 1,
  threshold: 2,
  message: 'step 2/3: check failed (1/2): failed: error rate 3.00% (max 1.00%)',
  lastAnalysis: { verdict: 'fail', reasons: [], canary: { requests: 120, errorRate: 0.03, p99Ms: 87.4 } },
};

function harness(status = 200, body: unknown = [view]) {
  const calls: { url: string; method: string; auth: string | null }[] = [];
  const lines: string[] = [];
  const errors: string[] = [];
  const fetchFn = (async (url: URL, init?: RequestInit) => {
    calls.push({ url: String(url), method: init?.method ?? 'GET', auth: new Headers(init?.headers).get('authorization') });
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  const out = { log: (l: string) => lines.push(l), error: (l: string) => errors.push(l) };
  return { calls, lines, errors, fetchFn, out };
}

describe('edgeway rollout', () => {
  it('lists rollouts with step, weights, last analysis and why, using the token from --token-env', async () => {
    const h = harness();
    const code = await rolloutCommand(
      ['list', '--url', 'https://edge.example.com', '--token-env', 'TOK'],
      h.out,
      { TOK: 'secret-token-0123456789' },
      h.fetchFn,
    );
    expect(code).toBe(0);
    expect(h.calls).toEqual([
      { url: 'https://edge.example.com/_edgeway/v1/rollouts', method: 'GET', auth: 'Bearer secret-token-0123456789' },
    ]);
    expect(h.lines.join('\n')).toMatch(
      /default\/shop {2}Progressing {2}step 2\/3 {2}stable 75% \/ canary 25% {2}failed 1\/2 \| last check: fail \(120 canary requests, 3\.00% errors, P99 87ms\)/,
    );
    expect(h.lines.join('\n')).toMatch(/error rate 3\.00%/);
  });

  it('posts verbs to the named rollout and reports refusals', async () => {
    const h = harness(200, { ...view, phase: 'Aborted' });
    expect(
      await rolloutCommand(['abort', 'team-a/shop', '--url', 'http://127.0.0.1:8787/'], h.out, { EDGEWAY_ADMIN_TOKEN: 't' }, h.fetchFn),
    ).toBe(0);
    expect(h.calls[0]).toMatchObject({ url: 'http://127.0.0.1:8787/_edgeway/v1/rollouts/team-a/shop/abort', method: 'POST' });
    const refused = harness(409, { error: 'rollout is Aborted' });
    expect(
      await rolloutCommand(['resume', 'shop', '--url', 'http://x.test'], refused.out, { EDGEWAY_ADMIN_TOKEN: 't' }, refused.fetchFn),
    ).toBe(1);
    expect(refused.errors[0]).toBe('edgeway rollout: 409: rollout is Aborted');
  });

  it('refuses bad usage without calling anything', async () => {
    for (const args of [
      ['explode', 'x', '--url', 'http://x.test'],
      ['abort', '--url', 'http://x.test'],
      ['abort', '../x', '--url', 'http://x.test'],
      ['list'],
      ['list', '--url', 'not a url'],
    ]) {
      const h = harness();
      expect(await rolloutCommand(args, h.out, { EDGEWAY_ADMIN_TOKEN: 't' }, h.fetchFn)).toBe(2);
      expect(h.calls).toEqual([]);
    }
    const h = harness();
    expect(await rolloutCommand(['list', '--url', 'http://x.test'], h.out, {}, h.fetchFn)).toBe(2);
    expect(h.errors[0]).toMatch(/EDGEWAY_ADMIN_TOKEN/);
  });
});
