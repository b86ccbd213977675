/** Shared pieces of the resource schemas: metadata, names and hostnames. */
import { z } from 'zod';

// RFC 1123 label rules as the Kubernetes API enforces them for names and namespaces.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const ObjectName = z
  .string()
  .min(1)
  .max(253)
  .regex(DNS_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain (a-z, 0-9, "-", ".")');

export const Namespace = z.string().min(1).max(63).regex(DNS_LABEL, 'must be a lowercase RFC 1123 label');

/** Gateway API Hostname: a DNS name, optionally with a single leading "*." wildcard label. */
export const Hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a lowercase DNS name, optionally starting with "*." (no IP addresses, no port)',
  )
  .refine((h) => !/^[0-9.]+$/.test(h), 'must be a DNS name, not an IP address');

// Kubernetes ObjectMeta fields that `kubectl get -o yaml` exports: accepted and ignored. Anything else is a typo
// (`namespce:` would otherwise silently put the resource into "default").
const IgnoredObjectMeta = {
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  generateName: z.string().optional(),
  selfLink: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().int().optional(),
  ownerReferences: z.array(z.object({}).loose()).optional(),
  finalizers: z.array(z.string()).optional(),
  managedFields: z.array(z.object({}).loose()).optional(),
};

export const Metadata = z.strictObject({
  name: ObjectName,
  namespace: Namespace.default('default'),
  creationTimestamp: z.iso.datetime({ offset: true }).optional().describe('Older routes win precedence ties.'),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ...IgnoredObjectMeta,
});

export const HeaderName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, 'must be a valid HTTP header name');

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
export const HTTPMethod = z.enum(HTTP_METHODS);

export const Percent = z.number().min(0).max(100);
