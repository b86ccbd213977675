/** `validate`'s zone check: routes that keep the client's Host need endpoint hostnames inside the Worker's zones. */
import { existsSync, readFileSync } from 'node:fs';
import { refKey, resourceKey } from '../schema/keys.js';
import { isEdgewayBackendRef } from '../schema/references.js';
import type { Resource } from '../schema/snapshot.js';
import type { ReferenceIssue } from '../schema/references.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|::1|localhost)$/;
const IP_ADDRESS = /^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\])$/i;
const ZONE_NAME = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export interface ZoneConfig {
  /** Lower-case zone names (`example.com`), deduplicated, in the order found. */
  zones: string[];
  /** Problems with the configuration itself, for the user (not located in route files). */
  notes: string[];
}

/** `--zone` values first, then the `zone_name` of every wrangler.toml route, when that file exists. */
export async function readZones(flagZones: readonly string[], wranglerPath = 'wrangler.toml'): Promise<ZoneConfig> {
  const zones: string[] = [];
  const notes: string[] = [];
  const add = (raw: string, from: string) => {
    const zone = raw.trim().toLowerCase().replace(/\.$/, '');
    if (!ZONE_NAME.test(zone)) notes.push(`${from}: "${raw}" is not a zone name such as example.com; ignored`);
    else if (!zones.includes(zone)) zones.push(zone);
  };
  for (const z of flagZones) add(z, '--zone');
  if (existsSync(wranglerPath)) {
    // Loading wrangler costs about 2 s: only when the file has a route at all.
    const text = readFileSync(wranglerPath, 'utf8');
    if (/^\s*(routes?\s*=|\[\[routes\]\])/m.test(text)) {
      const { unstable_readConfig } = await import('wrangler');
      const config = unstable_readConfig({ config: wranglerPath });
      const routes = [...(config.routes ?? []), ...(config.route ? [config.route] : [])];
      let unnamed = 0;
      for (const r of routes) {
        if (typeof r === 'object' && 'zone_name' in r && typeof r.zone_name === 'string') add(r.zone_name, wranglerPath);
        else unnamed++;
      }
      if (unnamed)
        notes.push(
          `${wranglerPath}: ${unnamed} route(s) name no zone_name (custom domains, zone_id, bare patterns); pass their zones with --zone to check endpoints against them`,
        );
    }
  }
  return { zones, notes };
}

/** `host` is the zone itself or a name under it. */
export function inZone(host: string, zones: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return zones.some((z) => h === z || h.endsWith(`.${z}`));
}

/**
 * A warning at every endpoint URL that a route reaches while keeping the client's Host (the route lists hostnames,
 * no URLRewrite sets one, the endpoint has no hostHeader) and whose hostname is outside `zones`. Such a request is
 * sent with `cf.resolveOverride`, which Cloudflare honours only inside the Worker's zone. Loopback and IP endpoints
 * are left to the other checks (dev-only, and unreachable from production Workers either way). `resources` may hold
 * holes (documents that failed the schema); indices are those of the list given.
 */
export function zoneIssues(resources: readonly (Resource | undefined)[], zones: readonly string[]): ReferenceIssue[] {
  if (!zones.length) return [];
  const backends = new Map<string, { index: number; backend: Extract<Resource, { kind: 'Backend' }> }>();
  resources.forEach((r, index) => {
    if (r?.kind === 'Backend') backends.set(resourceKey(r), { index, backend: r });
  });
  // Backend id -> routes that reach it keeping the client's Host.
  const keptBy = new Map<string, Set<string>>();
  const reach = (id: string, route: string) => {
    const set = keptBy.get(id) ?? new Set<string>();
    set.add(route);
    keptBy.set(id, set);
    // Its fallback serves the same requests (failover.fallbackBackend), Host and all.
    const fallback = backends.get(id)?.backend.spec.failover?.fallbackBackend;
    if (fallback) {
      const fid = `${id.split('/')[0]}/${fallback}`;
      const fset = keptBy.get(fid) ?? new Set<string>();
      fset.add(route);
      keptBy.set(fid, fset);
    }
  };
  for (const r of resources) {
    if (r?.kind !== 'HTTPRoute' || !r.spec.hostnames?.length) continue; // no hostnames: the endpoint's own host is sent
    const routeId = resourceKey(r);
    for (const rule of r.spec.rules) {
      const ruleRewrites = (rule.filters ?? []).some((f) => f.type === 'URLRewrite' && f.urlRewrite.hostname);
      if (ruleRewrites) continue;
      for (const ref of rule.backendRefs ?? []) {
        if (!isEdgewayBackendRef(ref)) continue;
        if ((ref.filters ?? []).some((f) => f.type === 'URLRewrite' && f.urlRewrite.hostname)) continue;
        reach(refKey(ref, r.metadata.namespace), routeId);
      }
    }
  }

  const issues: ReferenceIssue[] = [];
  const zoneList = zones.join(', ');
  for (const [id, routes] of keptBy) {
    const entry = backends.get(id);
    if (!entry) continue; // reported by checkReferences
    entry.backend.spec.endpoints.forEach((ep, i) => {
      if (ep.hostHeader) return;
      let host: string;
      try {
        host = new URL(ep.url).hostname.toLowerCase();
      } catch {
        return;
      }
      if (LOOPBACK.test(host) || IP_ADDRESS.test(host) || inZone(host, zones)) return;
      const names = [...routes].sort();
      const label = names.length === 1 ? `route ${names[0]}` : `routes ${names.join(', ')}`;
      const example = `${ep.cluster.replace(/[^a-z0-9-]/gi, '-').toLowerCase()}-origin.${zones[0]}`;
      issues.push({
        index: entry.index,
        path: ['spec', 'endpoints', i, 'url'],
        severity: 'warning',
        message:
          `${host} is outside the Worker's zones (${zoneList}), but ${label} keep${names.length === 1 ? 's' : ''} the client's Host, ` +
          `which needs cf.resolveOverride: Cloudflare ignores it for a host outside the zone. Fix: a CNAME in the zone ` +
          `(e.g. ${example} -> ${host}) used as this url, or hostHeader on the endpoint (the upstream then sees that Host)`,
      });
    });
  }
  return issues.sort((a, b) => a.index - b.index || String(a.path[2]).localeCompare(String(b.path[2]), undefined, { numeric: true }));
}
