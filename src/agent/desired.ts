/** Pure: what the cluster exposes (informer caches) -> the endpoints this cluster should report to the edge. */
import type { V1EndpointSlice, V1Ingress, V1Service } from '@kubernetes/client-node';
import { ReportedEndpoint } from '../admin/api.js';
import { Namespace, ObjectName } from '../schema.js';

export const ANNOTATION = {
  backend: 'edgeway.dev/backend',
  weight: 'edgeway.dev/weight',
  priority: 'edgeway.dev/priority',
  scheme: 'edgeway.dev/scheme',
  port: 'edgeway.dev/port',
  hostHeader: 'edgeway.dev/host-header',
} as const;

/** The few Gateway API fields the agent reads (the CRDs may be absent, so no generated types). */
export interface GatewayObject {
  metadata: { name?: string; namespace?: string; annotations?: Record<string, string> };
  status?: { addresses?: { type?: string; value: string }[] };
}
export interface HTTPRouteObject {
  metadata: { name?: string; namespace?: string };
  spec?: {
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

export interface DesiredOptions {
  cluster: string;
  cloud?: string | undefined;
  region?: string | undefined;
  scheme: 'http' | 'https';
  ingressClasses: string[];
  hostnameMap: Record<string, string>;
}

export interface Skipped {
  resource: string;
  reason: string;
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+:[0-9a-f:]*)$/i;

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

function parseBackend(value: string, ns: string): { namespace: string; name: string } | string {
  const parts = value.trim().split('/');
  const [namespace, name] = parts.length === 2 ? parts : [ns, parts[0]];
  if (parts.length > 2 || !Namespace.safeParse(namespace).success || !ObjectName.safeParse(name).success)
    return `annotation ${ANNOTATION.backend}="${value}" is not namespace/name`;
  return { namespace: namespace!, name: name! };
}

function intAnnotation(ann: Record<string, string>, key: string, min: number, max: number): number | undefined | string {
  const raw = ann[key];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) return `annotation ${key}="${raw}" must be an integer ${min}..${max}`;
  return n;
}

interface Source {
  id: string;
  namespace: string;
  annotations: Record<string, string>;
  defaultBackend?: string | undefined;
  addresses: { hostname?: string | undefined; ip?: string | undefined }[];
  services: string[];
  defaultPort?: number | undefined;
}

function sourcesOf(view: ClusterView, opts: DesiredOptions): Source[] {
  const out: Source[] = [];
  for (const ing of view.ingresses) {
    const ns = ing.metadata?.namespace ?? 'default';
    const ann = ing.metadata?.annotations ?? {};
    const cls = ing.spec?.ingressClassName ?? ann['kubernetes.io/ingress.class'];
    const byClass = cls !== undefined && opts.ingressClasses.includes(cls);
    if (!ann[ANNOTATION.backend] && !byClass) continue;
    const services = new Set<string>();
    if (ing.spec?.defaultBackend?.service?.name) services.add(ing.spec.defaultBackend.service.name);
    for (const rule of ing.spec?.rules ?? [])
      for (const p of rule.http?.paths ?? []) if (p.backend.service?.name) services.add(p.backend.service.name);
    out.push({
      id: `Ingress ${ns}/${ing.metadata?.name}`,
      namespace: ns,
      annotations: ann,
      defaultBackend: byClass ? `${ns}/${ing.metadata?.name}` : undefined,
      addresses: ing.status?.loadBalancer?.ingress ?? [],
      services: [...services].map((s) => `${ns}/${s}`),
    });
  }
  for (const svc of view.services) {
    const ann = svc.metadata?.annotations ?? {};
    if (svc.spec?.type !== 'LoadBalancer' || !ann[ANNOTATION.backend]) continue;
    const ns = svc.metadata?.namespace ?? 'default';
    out.push({
      id: `Service ${ns}/${svc.metadata?.name}`,
      namespace: ns,
      annotations: ann,
      addresses: svc.status?.loadBalancer?.ingress ?? [],
      services: [`${ns}/${svc.metadata?.name}`],
      defaultPort: svc.spec?.ports?.[0]?.port,
    });
  }
  for (const gw of view.gateways) {
    const ann = gw.metadata.annotations ?? {};
    if (!ann[ANNOTATION.backend]) continue;
    const ns = gw.metadata.namespace ?? 'default';
    const services = new Set<string>();
    for (const route of view.httpRoutes) {
      const rns = route.metadata.namespace ?? 'default';
      const attached = (route.spec?.parentRefs ?? []).some(
        (p) => (p.kind ?? 'Gateway') === 'Gateway' && p.name === gw.metadata.name && (p.namespace ?? rns) === ns,
      );
      if (!attached) continue;
      for (const rule of route.spec?.rules ?? [])
        for (const ref of rule.backendRefs ?? [])
          if ((ref.kind ?? 'Service') === 'Service' && !ref.group) services.add(`${ref.namespace ?? rns}/${ref.name}`);
    }
    out.push({
      id: `Gateway ${ns}/${gw.metadata.name}`,
      namespace: ns,
      annotations: ann,
      addresses: (gw.status?.addresses ?? []).map((a) =>
        (a.type ?? 'IPAddress') === 'Hostname' ? { hostname: a.value } : { ip: a.value },
      ),
      services: [...services],
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Computes the report. Resources that cannot be mapped are listed in `skipped`, never guessed at. */
export function desiredEndpoints(view: ClusterView, opts: DesiredOptions): { endpoints: ReportedEndpoint[]; skipped: Skipped[] } {
  const ready = readyByService(view.endpointSlices);
  const skipped: Skipped[] = [];
  const byKey = new Map<string, ReportedEndpoint>();
  for (const src of sourcesOf(view, opts)) {
    const skip = (reason: string) => skipped.push({ resource: src.id, reason });
    const backend = parseBackend(src.annotations[ANNOTATION.backend] ?? src.defaultBackend ?? '', src.namespace);
    if (typeof backend === 'string') {
      skip(backend);
      continue;
    }
    const weight = intAnnotation(src.annotations, ANNOTATION.weight, 0, 1_000_000);
    const priority = intAnnotation(src.annotations, ANNOTATION.priority, 0, 16);
    const port = intAnnotation(src.annotations, ANNOTATION.port, 1, 65_535);
    const bad = [weight, priority, port].find((v) => typeof v === 'string');
    if (typeof bad === 'string') {
      skip(bad);
      continue;
    }
    const scheme = src.annotations[ANNOTATION.scheme] ?? opts.scheme;
    if (scheme !== 'http' && scheme !== 'https') {
      skip(`annotation ${ANNOTATION.scheme}="${scheme}" must be http or https`);
      continue;
    }
    if (!src.addresses.length) {
      skip('no load-balancer address in status yet');
      continue;
    }
    const effectivePort = (port as number | undefined) ?? src.defaultPort;
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
        priority: (priority as number | undefined) ?? 0,
        weight: (weight as number | undefined) ?? 1,
        readyEndpoints: readyCount,
        ...(src.annotations[ANNOTATION.hostHeader] ? { hostHeader: src.annotations[ANNOTATION.hostHeader] } : {}),
      };
      const parsed = ReportedEndpoint.safeParse(candidate);
      if (!parsed.success) {
        skip(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        continue;
      }
      const key = `${backend.namespace}/${backend.name} ${parsed.data.url}`;
      const prev = byKey.get(key);
      // Two resources exposing the same address for one Backend: one endpoint, their ready pods added up.
      if (prev) prev.readyEndpoints = (prev.readyEndpoints ?? 0) + readyCount;
      else byKey.set(key, parsed.data);
    }
  }
  return { endpoints: [...byKey.values()], skipped };
}
