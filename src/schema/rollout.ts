/**
 * The Edgeway Rollout (edgeway.dev/v1alpha1): moves one HTTPRoute rule's traffic from a stable to a canary backendRef
 * in steps, each held while the canary's metrics are checked (Flagger's Canary analysis, Argo Rollouts' canary steps).
 * Stable and canary may live in different clusters or clouds: they are backendRefs of the same rule.
 */
import { z } from 'zod';
import { Metadata, Namespace, ObjectName } from './common.js';
import { Duration, parseDuration } from './duration.js';

const between = (minMs: number, maxMs: number, what: string) =>
  Duration.refine((d) => {
    const ms = parseDuration(d);
    return ms >= minMs && ms <= maxMs;
  }, what);

export const RolloutAnalysis = z.strictObject({
  interval: between(1000, 3_600_000, 'must be between 1s and 1h')
    .default('30s')
    .describe('How often the canary is checked (each check reads the metrics of the last interval of this step).'),
  minRequests: z
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .default(20)
    .describe('Canary requests a check needs to count. Fewer: the step holds (never passes).'),
  maxErrorRate: z
    .number()
    .min(0)
    .max(100)
    .optional()
    .describe('Highest share (%) of canary requests answered 5xx (gateway errors included).'),
  maxErrorRateIncrease: z
    .number()
    .min(0)
    .max(100)
    .optional()
    .describe("Highest canary error rate above the stable's in the same window, in percentage points."),
  maxP99Latency: between(1, 600_000, 'must be between 1ms and 10m').optional().describe('Highest canary P99 latency.'),
  maxP99Ratio: z.number().min(1).max(1000).optional().describe("Highest canary P99 over the stable's P99 in the same window."),
  threshold: z.number().int().min(1).max(100).default(2).describe('Failed checks in a row before the rollout aborts.'),
});
export type RolloutAnalysis = z.infer<typeof RolloutAnalysis>;

export const RolloutStep = z.strictObject({
  weight: z.number().int().min(0).max(100).describe("Canary's share (%) of the rule's stable+canary weight."),
  hold: between(1000, 7 * 86_400_000, 'must be between 1s and 7d').describe('How long the step holds (with passing checks).'),
  analysis: RolloutAnalysis.partial().optional().describe("Overrides of spec.analysis for this step's checks."),
});

const RefName = z.strictObject({ name: ObjectName, namespace: Namespace.optional() });

export const Rollout = z
  .strictObject({
    apiVersion: z.literal('edgeway.dev/v1alpha1'),
    kind: z.literal('Rollout'),
    metadata: Metadata,
    spec: z.strictObject({
      targetRef: z.strictObject({
        name: ObjectName.describe('HTTPRoute name (same namespace as the Rollout).'),
        rule: z.union([z.string().min(1).max(253), z.number().int().min(0)]).describe('Rule name, or its index in spec.rules.'),
      }),
      stableRef: RefName.describe('The backendRef that serves now.'),
      canaryRef: RefName.describe('The backendRef being rolled out.'),
      steps: z.array(RolloutStep).min(1).max(32),
      analysis: RolloutAnalysis.default({ interval: '30s', minRequests: 20, threshold: 2 }),
    }),
  })
  .superRefine((r, ctx) => {
    const s = r.spec;
    if (s.stableRef.name === s.canaryRef.name && (s.stableRef.namespace ?? '') === (s.canaryRef.namespace ?? ''))
      ctx.addIssue({ code: 'custom', path: ['spec', 'canaryRef', 'name'], message: 'must differ from stableRef' });
    s.steps.forEach((step, i) => {
      if (i > 0 && step.weight < s.steps[i - 1]!.weight)
        ctx.addIssue({ code: 'custom', path: ['spec', 'steps', i, 'weight'], message: 'steps must not lower the canary weight' });
    });
  });
export type Rollout = z.infer<typeof Rollout>;
