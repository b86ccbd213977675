/** `edgeway validate` on out-of-range health checks and rate limits (issues 3 and 4): located errors, all at once. */
import { describe, expect, it } from 'vitest';
import { compilePaths, compileSources, formatDiagnostic } from '../../../src/cli/compile.js';

const FILE = 'test/fixtures/cli/bad-policies/health-and-limits.yaml';

describe('validate: health-check and rate-limit bounds', () => {
  it('reports each out-of-range setting at its own line', async () => {
    const r = await compilePaths([FILE]);
    const lines = r.diagnostics.map(formatDiagnostic);
    const at = (line: number, text: string) => expect(lines.some((l) => l.startsWith(`${FILE}:${line}:`) && l.includes(text))).toBe(true);
    at(12, 'spec.healthCheck.active.interval: must be at least 1s');
    at(13, 'spec.healthCheck.active.timeout: must be shorter than interval');
    at(14, 'spec.healthCheck.active.healthyThreshold');
    at(16, 'spec.healthCheck.passive.consecutiveFailures');
    at(17, 'spec.healthCheck.passive.maxEjectionPercent');
    at(37, 'spec.targetRefs[0].sectionName: HTTPRoute default/api has no rule named "nope"');
    at(39, 'spec.limits[0].requests');
    at(42, 'spec.limits[1].window: must be between 1s and 24h');
    at(44, 'spec.limits[2].window: must be between 1s and 24h');
    at(46, 'spec.keys[0].type: must be one of ClientIP, Header, Cookie, Route');
    expect(r.errors).toBe(10);
  });

  it('rejects a timeout that is not shorter than the interval, and a sectionName the route lacks', () => {
    const r = compileSources([
      {
        file: 'hc.yaml',
        text: [
          'apiVersion: edgeway.dev/v1alpha1',
          'kind: Backend',
          'metadata: { name: b }',
          'spec:',
          '  healthCheck:',
          '    active: { interval: 2s, timeout: 2s }',
          '---',
          'apiVersion: gateway.networking.k8s.io/v1',
          'kind: HTTPRoute',
          'metadata: { name: r }',
          'spec: { rules: [{ name: main, backendRefs: [{ name: b }] }] }',
          '---',
          'apiVersion: edgeway.dev/v1alpha1',
          'kind: RateLimitPolicy',
          'metadata: { name: p }',
          'spec:',
          '  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: other }]',
          '  limits: [{ requests: 5, window: 1s }]',
        ].join('\n'),
      },
    ]);
    const lines = r.diagnostics.map(formatDiagnostic);
    expect(lines).toContainEqual(
      expect.stringMatching(/^hc\.yaml:6:\d+: spec\.healthCheck\.active\.timeout: must be shorter than interval$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^hc\.yaml:17:\d+: spec\.targetRefs\[0\]\.sectionName: HTTPRoute default\/r has no rule named "other"$/),
    );
    expect(r.errors).toBe(2);
  });
});
