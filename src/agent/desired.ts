/** Pure: what the cluster exposes (informer caches) -> the endpoints this cluster should report to the edge. */
import type { V1EndpointSlice, V1Ingress, V1Service } from '@kubernetes/client-node';
import { z } from 'zod';
import { ReportedEndpoint } from '../admin/api.js';
import { Endpoint } from '../schema/backend.js';
import { Hostname, Namespace, ObjectName } from '../schema/common.js';
import { objectKey, refKey, reportedEndpointKey } from '../schema/keys.js';

export const ANNOTATION = {
  backend: 'edgeway.dev/backend',
  weight: 'edgeway.dev/weight',
  priority: 'edgeway.dev/priority',
  scheme: 'edgeway.dev/scheme',
  port: 'edgeway.dev/port',
  hostHeader: 'edgeway.dev/host-header',
} as const;
const ANNOTATION_PREFIX = 'edgeway.dev/';
const KNOWN_ANNOTATIONS = new Set<string>(Object.values(ANNOTATION));
/** The legacy (pre networking/v1) way to name an Ingress class; still honoured by many controllers. */
export const LEGACY_INGRESS_CLASS = 'kubernetes.io/ingress.class';

/** The few Gateway API fields the agent reads (the CRDs may be absent, so no generated types). */
export interface GatewayObject {
  metadata: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: { gatewayClassName?: string; listeners?: { name?: string; hostname?: string }[] };
  status?: { addresses?: { type?: string; value: string }[] };
}
export interface HTTPRouteObject {
  metadata: { name?: string; namespace?: string };
  spec?: {
    hostnames?: string[];
    parentRefs?: { group?: string; kind?: string; name: string; namespace?: string }[];
    rules?: { backendRefs?: { group?: string; kind?: string; name: string; namespace?: string }[] }[];
  };
}

export interface ClusterView {
  ingresses: V1Ingress[];
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  gateways: GatewayObject[];
  httpRoutes: HTTPRouteObject[];
}

export type SourceKind = 'Ingress' | 'Service' | 'Gateway';
export const SOURCE_KINDS = ['Ingress', 'Service', 'Gateway'] as const satisfies readonly SourceKind[];

/**
 * Consent for cross-namespace claims, in the spirit of Gateway API's ReferenceGrant: objects in the `from` namespaces
 * (optionally only of `kinds`) may claim Backends in namespace `to` (optionally only those `names`).
 */
export interface CrossNamespaceGrant {
  from: string[];
  to: string;
  names?: string[] | undefined;
  kinds?: SourceKind[] | undefined;
}

export interface DesiredOptions {
  cluster: string;
  cloud?: string | undefined;
  region?: string | undefined;
  scheme: 'http' | 'https';
  /** Only Ingresses of these classes (spec.ingressClassName or the legacy annotation) are considered. */
  ingressClasses: string[];
  /** Only Gateways of these GatewayClasses are considered. */
  gatewayClasses: string[];
  /** An Ingress of a watched class without `edgeway.dev/backend` claims `<its namespace>/<its name>`. */
  claimUnannotatedIngresses: boolean;
  crossNamespaceGrants: CrossNamespaceGrant[];
  hostnameMap: Record<string, string>;
}

/** An object that cannot be reported yet for a reason outside the user's annotations (no address yet, bare IP). */
export interface Skipped {
  resource: string;
  reason: string;
}

/** Why an object's claim was refused. A closed set: it is a metrics label. */
export const REFUSAL_REASONS = [
  'unknown-annotation',
  'missing-backend',
  'invalid-backend',
  'cross-namespace-not-granted',
  'invalid-weight',
  'invalid-priority',
  'invalid-port',
  'invalid-scheme',
  'invalid-host-header',
  'host-header-not-served',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** An opted-in object whose claim is refused: nothing of it is reported (never reported with defaults instead). */
export interface Refusal {
  kind: SourceKind;
  namespace: string;
  name: string;
  /** The first problem found (metrics label). */
  reason: RefusalReason;
  /** Every problem found, human-readable; annotation values are quoted and truncated. */
  message: string;
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+:[0-9a-f:]*)$/i;
/** How many characters of an annotation value a message quotes (values can be up to 256 KiB). */
const QUOTE_MAX = 64;

/** An annotation value as shown in messages and logs: JSON-quoted, truncated. */
export function quote(value: string): string {
  return JSON.stringify(value.length > QUOTE_MAX ? `${value.slice(0, QUOTE_MAX)}...` : value);
}

/** Ready pods per Service, from EndpointSlices (ready unset counts as ready, as the API specifies). */
export function readyByService(slices: V1EndpointSlice[]): Map<string, number> {
  const seen = new Map<string, Set<string>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const id = `${s.metadata?.namespace ?? 'default'}/${svc}`;
    const set = seen.get(id) ?? new Set<string>();
    for (const ep of s.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      set.add(ep.targetRef?.uid ?? ep.addresses.join(','));
    }
    seen.set(id, set);
  }
  return new Map([...seen].map(([k, v]) => [k, v.size]));
}

/** Bounds come from the Endpoint schema (src/schema/backend.ts), so the agent never reports what the edge refuses. */
const WEIGHT = Endpoint.shape.weight.unwrap();
const PRIORITY = Endpoint.shape.priority.unwrap();
const PORT = z.number().int().min(1).max(65_535);
/** Digits only: no sign, exponent, hex, blanks or fraction ("1e3", "0x10", " 5", "" are refused). */
const DIGITS = /^\d{1,10}$/;

type Problem = { reason: RefusalReason; message: string };

function intAnnotation(
  ann: Record<string, string>,
  key: string,
  schema: z.ZodNumber,
  reason: RefusalReason,
  problems: Problem[],
): number | undefined {
  const raw = ann[key];
  if (raw === undefined) return undefined;
  const n = DIGITS.test(raw) ? Number(raw) : NaN;
  if (schema.safeParse(n).success) return n;
  problems.push({ reason, message: `${key}=${quote(raw)} must be an integer ${schema.minValue}..${schema.maxValue}` });
  return undefined;
}

function parseBackend(value: string, ns: string, problems: Problem[]): { namespace: string; name: string } | undefined {
  const parts = value.split('/');
  const [namespace, name] = parts.length === 2 ? parts : [ns, parts[0]];
  if (parts.length > 2 || !Namespace.safeParse(namespace).success || !ObjectName.safeParse(name).success) {
    problems.push({
      reason: 'invalid-backend',
      message: `${ANNOTATION.backend}=${quote(value)} is not <namespace>/<name> or <name> (lowercase RFC 1123)`,
    });
    return undefined;
  }
  return { namespace: namespace!, name: name! };
}

/** A same-namespace claim is always allowed; another namespace needs a grant naming both (ReferenceGrant-like). */
export function claimAllowed(
  grants: CrossNamespaceGrant[],
  kind: SourceKind,
  from: string,
  to: { namespace: string; name: string },
): boolean {
  if (from === to.namespace) return true;
  return grants.some(
    (g) =>
      g.to === to.namespace &&
      g.from.includes(from) &&
      (g.names === undefined || g.names.includes(to.name)) &&
      (g.kinds === undefined || g.kinds.includes(kind)),
  );
}

/** A hostname an object serves. Ingress wildcards match exactly one label; Gateway API ones any non-empty prefix. */
interface Served {
  host: string;
  wildcard: 'one-label' | 'suffix';
}

/** Does `host` (a concrete DNS name) fall under one of the served hostnames? */
export function hostServed(host: string, served: Served[]): boolean {
  const h = host.toLowerCase();
  return served.some(({ host: s, wildcard }) => {
    const pattern = s.toLowerCase();
    if (!pattern.startsWith('*.')) return pattern === h;
    const suffix = pattern.slice(1); // ".example.com"
    if (!h.endsWith(suffix) || h.length === suffix.length) return false;
    const prefix = h.slice(0, -suffix.length);
    return wildcard === 'suffix' || !prefix.includes('.');
  });
}

interface Source {
  kind: SourceKind;
  namespace: string;
  name: string;
  annotations: Record<string, string>;
  /** Backend claimed without the annotation (an Ingress of a watched class with claimUnannotatedIngresses). */
  implicitBackend?: string | undefined;
  addresses: { hostname?: string | undefined; ip?: string | undefined }[];
  services: string[];
  defaultPort?: number | undefined;
  /** Hostnames the object itself serves: the only ones `edgeway.dev/host-header` may name. */
  served: Served[];
}

const optedIn = (ann: Record<string, string>) => Object.keys(ann).some((k) => k.startsWith(ANNOTATION_PREFIX));

/** The classes an Ingress names (spec and legacy annotation). It is watched only if it names some, all watched. */
function ingressWatched(ing: V1Ingress, classes: string[]): boolean {
  const named = [ing.spec?.ingressClassName, ing.metadata?.annotations?.[LEGACY_INGRESS_CLASS]].filter(
    (c): c is string => c !== undefined && c !== '',
  );
  return named.length > 0 && named.every((c) => classes.includes(c));
}

function sourcesOf(view: ClusterView, opts: DesiredOptions): Source[] {
  const out: Source[] = [];
  for (const ing of view.ingresses) {
    if (!ingressWatched(ing, opts.ingressClasses)) continue;
    const ns = ing.metadata?.namespace ?? 'default';
    const name = ing.metadata?.name ?? '';
    const ann = ing.metadata?.annotations ?? {};
    if (!optedIn(ann) && !opts.claimUnannotatedIngresses) continue;
    const services = new Set<string>();
    if (ing.spec?.defaultBackend?.service?.name) services.add(ing.spec.defaultBackend.service.name);
    const served: Served[] = [];
    for (const rule of ing.spec?.rules ?? []) {
      if (rule.host) served.push({ host: rule.host, wildcard: 'one-label' });
      for (const p of rule.http?.paths ?? []) if (p.backend.service?.name) services.add(p.backend.service.name);
    }
    for (const tls of ing.spec?.tls ?? []) for (const host of tls.hosts ?? []) served.push({ host, wildcard: 'one-label' });
    out.push({
      kind: 'Ingress',
      namespace: ns,
      name,
      annotations: ann,
      implicitBackend: opts.claimUnannotatedIngresses ? `${ns}/${name}` : undefined,
      addresses: ing.status?.loadBalancer?.ingress ?? [],
      services: [...services].map((s) => `${ns}/${s}`),
      served,
    });
  }
  for (const svc of view.services) {
    const ann = svc.metadata?.annotations ?? {};
    // A Service opts in only by annotation; it serves no hostname, so it may not set a host-header.
    if (svc.spec?.type !== 'LoadBalancer' || !optedIn(ann)) continue;
    const ns = svc.metadata?.namespace ?? 'default';
    out.push({
      kind: 'Service',
      namespace: ns,
      name: svc.metadata?.name ?? '',
      annotations: ann,
      addresses: svc.status?.loadBalancer?.ingress ?? [],
      services: [`${ns}/${svc.metadata?.name}`],
      defaultPort: svc.spec?.ports?.[0]?.port,
      served: [],
    });
  }
  for (const gw of view.gateways) {
    const ann = gw.metadata.annotations ?? {};
    const cls = gw.spec?.gatewayClassName;
    if (!cls || !opts.gatewayClasses.includes(cls) || !optedIn(ann)) continue;
    const ns = gw.metadata.namespace ?? 'default';
    const services = new Set<string>();
    const served: Served[] = [];
    for (const l of gw.spec?.listeners ?? []) if (l.hostname) served.push({ host: l.hostname, wildcard: 'suffix' });
    for (const route of view.httpRoutes) {
      const rns = route.metadata.namespace ?? 'default';
      const attached = (route.spec?.parentRefs ?? []).some(
        (p) => (p.kind ?? 'Gateway') === 'Gateway' && p.name === gw.metadata.name && (p.namespace ?? rns) === ns,
      );
      if (!attached) continue;
      // Hostnames of routes from other namespaces are theirs, not the Gateway owner's: never a host-header.
      if (rns === ns) for (const host of route.spec?.hostnames ?? []) served.push({ host, wildcard: 'suffix' });
      for (const rule of route.spec?.rules ?? [])
        for (const ref of rule.backendRefs ?? []) if ((ref.kind ?? 'Service') === 'Service' && !ref.group) services.add(refKey(ref, rns));
    }
    out.push({
      kind: 'Gateway',
      namespace: ns,
      name: gw.metadata.name ?? '',
      annotations: ann,
      addresses: (gw.status?.addresses ?? []).map((a) =>
        (a.type ?? 'IPAddress') === 'Hostname' ? { hostname: a.value } : { ip: a.value },
      ),
      services: [...services],
      served,
    });
  }
  return out.sort((a, b) => idOf(a).localeCompare(idOf(b)));
}

const idOf = (s: { kind: string; namespace: string; name: string }) => `${s.kind} ${objectKey(s.namespace, s.name)}`;

interface Claim {
  backend: { namespace: string; name: string };
  weight: number | undefined;
  priority: number | undefined;
  port: number | undefined;
  scheme: 'http' | 'https';
  hostHeader: string | undefined;
}

/** Validates every edgeway.dev annotation of an opted-in object; any problem refuses the whole object. */
function claimOf(src: Source, opts: DesiredOptions): Claim | Problem[] {
  const ann = src.annotations;
  const problems: Problem[] = [];
  const unknown = Object.keys(ann).filter((k) => k.startsWith(ANNOTATION_PREFIX) && !KNOWN_ANNOTATIONS.has(k));
  if (unknown.length)
    problems.push({
      reason: 'unknown-annotation',
      message: `unknown annotation${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 3).map(quote).join(', ')}${unknown.length > 3 ? ', ...' : ''} (known: ${[...KNOWN_ANNOTATIONS].join(', ')})`,
    });
  const rawBackend = ann[ANNOTATION.backend] ?? src.implicitBackend;
  let backend: Claim['backend'] | undefined;
  if (rawBackend === undefined) problems.push({ reason: 'missing-backend', message: `${ANNOTATION.backend} is missing` });
  else backend = parseBackend(rawBackend, src.namespace, problems);
  if (backend && !claimAllowed(opts.crossNamespaceGrants, src.kind, src.namespace, backend))
    problems.push({
      reason: 'cross-namespace-not-granted',
      message: `a ${src.kind} in namespace ${src.namespace} may not claim Backend ${backend.namespace}/${backend.name}: no crossNamespaceGrants entry allows it`,
    });
  const weight = intAnnotation(ann, ANNOTATION.weight, WEIGHT, 'invalid-weight', problems);
  const priority = intAnnotation(ann, ANNOTATION.priority, PRIORITY, 'invalid-priority', problems);
  const port = intAnnotation(ann, ANNOTATION.port, PORT, 'invalid-port', problems);
  const rawScheme = ann[ANNOTATION.scheme];
  if (rawScheme !== undefined && rawScheme !== 'http' && rawScheme !== 'https')
    problems.push({ reason: 'invalid-scheme', message: `${ANNOTATION.scheme}=${quote(rawScheme)} must be http or https` });
  const hostHeader = ann[ANNOTATION.hostHeader];
  if (hostHeader !== undefined) {
    if (!Hostname.safeParse(hostHeader).success || hostHeader.startsWith('*.'))
      problems.push({
        reason: 'invalid-host-header',
        message: `${ANNOTATION.hostHeader}=${quote(hostHeader)} must be a lowercase DNS name (no wildcard, IP or port)`,
      });
    else if (!hostServed(hostHeader, src.served))
      problems.push({
        reason: 'host-header-not-served',
        message:
          src.kind === 'Service'
            ? `${ANNOTATION.hostHeader}=${quote(hostHeader)}: a Service serves no hostname (set it on an Ingress or Gateway)`
            : `${ANNOTATION.hostHeader}=${quote(hostHeader)} is not a host this ${src.kind} serves (${
                src.kind === 'Ingress' ? 'spec.rules[].host, spec.tls[].hosts' : 'listener hostnames, HTTPRoutes of its namespace'
              }${
                src.served.length
                  ? `: ${src.served
                      .slice(0, 5)
                      .map((s) => s.host)
                      .join(', ')}`
                  : ': none'
              })`,
      });
  }
  if (problems.length || !backend) return problems;
  return { backend, weight, priority, port, scheme: (rawScheme as 'http' | 'https' | undefined) ?? opts.scheme, hostHeader };
}

/**
 * Computes the report. Objects that cannot be mapped yet are listed in `skipped`; opted-in objects whose claim or
 * annotations are not acceptable are listed in `refused` and contribute nothing (never guessed at, never defaulted).
 */
export function desiredEndpoints(
  view: ClusterView,
  opts: DesiredOptions,
): { endpoints: ReportedEndpoint[]; skipped: Skipped[]; refused: Refusal[] } {
  const ready = readyByService(view.endpointSlices);
  const skipped: Skipped[] = [];
  const refused: Refusal[] = [];
  const byKey = new Map<string, ReportedEndpoint>();
  for (const src of sourcesOf(view, opts)) {
    const skip = (reason: string) => skipped.push({ resource: idOf(src), reason });
    const claim = claimOf(src, opts);
    if (Array.isArray(claim)) {
      refused.push({
        kind: src.kind,
        namespace: src.namespace,
        name: src.name,
        reason: claim[0]!.reason,
        message: claim.map((p) => p.message).join('; '),
      });
      continue;
    }
    const { backend, scheme } = claim;
    if (!src.addresses.length) {
      skip('no load-balancer address in status yet');
      continue;
    }
    const effectivePort = claim.port ?? src.defaultPort;
    const portPart = effectivePort && effectivePort !== (scheme === 'https' ? 443 : 80) ? `:${effectivePort}` : '';
    const readyCount = src.services.reduce((n, s) => n + (ready.get(s) ?? 0), 0);
    for (const addr of src.addresses) {
      let host = addr.hostname;
      if (!host && addr.ip) {
        host = opts.hostnameMap[addr.ip];
        if (!host) {
          skip(`address ${addr.ip} is a bare IP (Workers cannot fetch IPs): add it to the hostname map`);
          continue;
        }
      }
      if (!host) continue;
      const urlHost = IP.test(host) && host.includes(':') ? `[${host}]` : host;
      const candidate = {
        backend,
        url: `${scheme}://${urlHost}${portPart}`,
        cluster: opts.cluster,
        ...(opts.cloud ? { cloud: opts.cloud } : {}),
        ...(opts.region ? { region: opts.region } : {}),
        priority: claim.priority ?? 0,
        weight: claim.weight ?? 1,
        readyEndpoints: readyCount,
        ...(claim.hostHeader ? { hostHeader: claim.hostHeader } : {}),
        sourceNamespace: src.namespace,
      };
      const parsed = ReportedEndpoint.safeParse(candidate);
      if (!parsed.success) {
        skip(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        continue;
      }
      const key = reportedEndpointKey(parsed.data);
      const prev = byKey.get(key);
      if (!prev) {
        byKey.set(key, parsed.data);
        continue;
      }
      // Two objects exposing the same address for one Backend (a shared ingress controller): one endpoint, their
      // ready pods added up. Its settings and source namespace are those of an object in the Backend's own
      // namespace if there is one, else of the first object by kind/namespace/name.
      const readyEndpoints = (prev.readyEndpoints ?? 0) + readyCount;
      if (prev.sourceNamespace !== backend.namespace && src.namespace === backend.namespace)
        byKey.set(key, { ...parsed.data, readyEndpoints });
      else prev.readyEndpoints = readyEndpoints;
    }
  }
  return { endpoints: [...byKey.values()], skipped, refused };
}
