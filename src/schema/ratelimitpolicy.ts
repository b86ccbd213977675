/** The Edgeway RateLimitPolicy (edgeway.dev/v1alpha1), attached to HTTPRoutes in Gateway API policy style. */
import { z } from 'zod';
import { Duration, parseDuration } from './duration.js';
import { HeaderName, Metadata, ObjectName } from './common.js';

export const RateLimitKey = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ClientIP') }),
  z.strictObject({ type: z.literal('Header'), name: HeaderName }),
  z.strictObject({ type: z.literal('Cookie'), name: z.string().min(1).max(256) }),
  z.strictObject({ type: z.literal('Route') }),
  z
    .strictObject({ type: z.literal('Consumer') })
    .describe("The route's SecurityPolicy identity: the API key's consumer or the JWT's provider and subject (missingKey applies to anonymous requests)."),
]);

/** Clients are counted per network prefix, so one IPv6 subscriber (a /64 or more) cannot mint a bucket per address. */
export const ClientIPGrouping = z.strictObject({
  ipv4PrefixLength: z.number().int().min(0).max(32).default(32),
  ipv6PrefixLength: z.number().int().min(0).max(128).default(64),
});

export const RateLimit = z.strictObject({
  requests: z.number().int().min(1).max(1_000_000_000),
  window: Duration.refine((d) => {
    const ms = parseDuration(d);
    return ms >= 1000 && ms <= 86_400_000;
  }, 'must be between 1s and 24h'),
});

export const RateLimitPolicy = z.strictObject({
  apiVersion: z.literal('edgeway.dev/v1alpha1'),
  kind: z.literal('RateLimitPolicy'),
  metadata: Metadata,
  spec: z.strictObject({
    targetRefs: z
      .array(
        z.strictObject({
          group: z.literal('gateway.networking.k8s.io'),
          kind: z.literal('HTTPRoute'),
          name: ObjectName,
          sectionName: z.string().min(1).max(253).optional(),
        }),
      )
      .min(1)
      .max(16),
    limits: z.array(RateLimit).min(1).max(8),
    keys: z.array(RateLimitKey).min(1).max(4).default([{ type: 'ClientIP' }]),
    algorithm: z.enum(['SlidingWindow', 'TokenBucket']).default('SlidingWindow'),
    failOpen: z.boolean().default(true),
    missingKey: z.enum(['Deny', 'FallbackToClientIP']).default('FallbackToClientIP'),
    countDenied: z.boolean().default(false),
    legacyHeaders: z.boolean().default(false).describe('Also send X-RateLimit-Limit/Remaining/Reset.'),
    clientIP: ClientIPGrouping.default({ ipv4PrefixLength: 32, ipv6PrefixLength: 64 }).describe(
      'How client addresses (CF-Connecting-IP) form ClientIP keys: the network prefix kept. IPv6 defaults to /64, the block one subscriber gets.',
    ),
  }),
});

export type RateLimitPolicy = z.infer<typeof RateLimitPolicy>;
export type RateLimitKey = z.infer<typeof RateLimitKey>;
export type ClientIPGrouping = z.infer<typeof ClientIPGrouping>;
