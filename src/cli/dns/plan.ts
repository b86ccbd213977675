/** Pure planner of `edgeway dns`: which route hostnames need a Workers Custom Domain in which zone, and the diff
 * against the account's custom domains. Ownership is the custom domain's `service`: only ours is ever changed. */
import { domainToASCII } from 'node:url';
import { resourceKey } from '../../schema/keys.js';
import type { Resource } from '../../schema/snapshot.js';

export interface Zone {
  id: string;
  /** Lower-case ASCII (punycode) name. */
  name: string;
  status: string;
}

/** A Workers Custom Domain as the API lists it (hostname normalized). */
export interface CustomDomain {
  id: string;
  hostname: string;
  service: string;
  environment: string;
  zoneId: string;
  zoneName?: string;
}

/** The worker whose custom domains `edgeway dns` owns. */
export interface Owner {
  service: string;
  environment: string;
}

/** `sync` deletes our custom domains that no route names any more; `upsert-only` never deletes (external-dns). */
export type Policy = 'sync' | 'upsert-only';

/** Hostname -> the routes (or `--hostname`) that name it. */
export type Wanted = Map<string, string[]>;

export type Change =
  | { action: 'create'; hostname: string; zone: Zone; from: string[] }
  | { action: 'update'; hostname: string; zone: Zone; current: CustomDomain; reason: string; from: string[] }
  | { action: 'unchanged'; hostname: string; zone: Zone; current: CustomDomain; from: string[] }
  | { action: 'delete'; hostname: string; current: CustomDomain }
  | { action: 'stale'; hostname: string; current: CustomDomain }
  | { action: 'foreign'; hostname: string; current: CustomDomain; from: string[] }
  | { action: 'no-zone'; hostname: string; reason: string; from: string[] }
  | { action: 'wildcard'; hostname: string; zone?: Zone; from: string[] };

export type Action = Change['action'];

export const MAX_HOSTNAME = 253;
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Lower case, no trailing dot, IDN labels as punycode (`Bücher.Example` -> `xn--bcher-kva.example`), at most 253
 * characters and 63 per label, an optional leading `*.`. Anything else (IP addresses, ports, spaces, empty labels)
 * is undefined. The length is checked before any conversion, so a hostile megabyte costs nothing.
 */
export function normalizeHostname(raw: string): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_HOSTNAME * 4) return undefined;
  let h = raw.trim().replace(/\.$/, '');
  const wildcard = h.startsWith('*.');
  if (wildcard) h = h.slice(2);
  if (!/^[\x21-\x7e]+$/.test(h)) h = domainToASCII(h);
  h = h.toLowerCase();
  if (!h || h.length + (wildcard ? 2 : 0) > MAX_HOSTNAME) return undefined;
  const labels = h.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l)) || /^[0-9.]+$/.test(h)) return undefined;
  return wildcard ? `*.${h}` : h;
}

/** Hostnames of every HTTPRoute, plus `extra` (e.g. the admin hostname), each with who names it. */
export function wantedHostnames(resources: readonly Resource[], extra: readonly string[] = []): { wanted: Wanted; notes: string[] } {
  const wanted: Wanted = new Map();
  const notes: string[] = [];
  const add = (host: string, from: string) => {
    const list = wanted.get(host) ?? [];
    if (!list.includes(from)) list.push(from);
    wanted.set(host, list);
  };
  for (const r of resources) {
    if (r.kind !== 'HTTPRoute') continue;
    const hostnames = r.spec.hostnames ?? [];
    if (!hostnames.length)
      notes.push(`route ${resourceKey(r)} lists no hostnames: it serves any Host the Worker receives, so it needs no DNS of its own`);
    for (const h of hostnames) {
      const n = normalizeHostname(h);
      if (n) add(n, resourceKey(r));
      else notes.push(`route ${resourceKey(r)}: hostname ${JSON.stringify(h.slice(0, 80))} is not a DNS name; skipped`);
    }
  }
  for (const h of extra) {
    const n = normalizeHostname(h);
    if (!n) throw new Error(`--hostname ${JSON.stringify(h.slice(0, 80))} is not a DNS name`);
    add(n, '--hostname');
  }
  return { wanted, notes };
}

/** The zone with the longest name that is `host` itself or a suffix of it at a label boundary. */
export function zoneFor(host: string, zones: readonly Zone[]): Zone | undefined {
  const h = host.startsWith('*.') ? host.slice(2) : host;
  let best: Zone | undefined;
  for (const z of zones) if ((h === z.name || h.endsWith(`.${z.name}`)) && (!best || z.name.length > best.name.length)) best = z;
  return best;
}

const byHost = (a: { hostname: string }, b: { hostname: string }) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0);

/** The diff, sorted by hostname. Custom domains of other workers are reported only where a route wants their name. */
export function planDns(input: {
  wanted: Wanted;
  zones: readonly Zone[];
  domains: readonly CustomDomain[];
  owner: Owner;
  policy: Policy;
}): Change[] {
  const { wanted, zones, domains, owner, policy } = input;
  const current = new Map(domains.map((d) => [d.hostname, d]));
  const changes: Change[] = [];
  for (const [hostname, from] of wanted) {
    const zone = zoneFor(hostname, zones);
    if (hostname.startsWith('*.')) {
      changes.push({ action: 'wildcard', hostname, zone, from });
      continue;
    }
    const existing = current.get(hostname);
    if (existing && existing.service !== owner.service) {
      changes.push({ action: 'foreign', hostname, current: existing, from });
      continue;
    }
    if (!zone) {
      changes.push({ action: 'no-zone', hostname, reason: 'no zone of the account contains it', from });
      continue;
    }
    if (zone.status !== 'active') {
      changes.push({ action: 'no-zone', hostname, reason: `its zone ${zone.name} is ${zone.status}, not active`, from });
      continue;
    }
    if (!existing) changes.push({ action: 'create', hostname, zone, from });
    else {
      const reasons: string[] = [];
      if (existing.zoneId !== zone.id) reasons.push(`zone ${existing.zoneName ?? existing.zoneId} -> ${zone.name}`);
      if (existing.environment !== owner.environment) reasons.push(`environment ${existing.environment} -> ${owner.environment}`);
      if (reasons.length) changes.push({ action: 'update', hostname, zone, current: existing, reason: reasons.join(', '), from });
      else changes.push({ action: 'unchanged', hostname, zone, current: existing, from });
    }
  }
  for (const d of domains)
    if (d.service === owner.service && !wanted.has(d.hostname))
      changes.push({ action: policy === 'sync' ? 'delete' : 'stale', hostname: d.hostname, current: d });
  return changes.sort(byHost);
}

export const writes = (changes: readonly Change[]) =>
  changes.filter((c) => c.action === 'create' || c.action === 'update' || c.action === 'delete');

const MARK: Record<Action, string> = {
  create: '+',
  update: '~',
  delete: '-',
  unchanged: '=',
  stale: '-',
  foreign: '!',
  'no-zone': '?',
  wildcard: '*',
};

/** One line per hostname, then a summary line. */
export function formatPlan(changes: readonly Change[], owner: Owner): string[] {
  const width = Math.min(60, Math.max(0, ...changes.map((c) => c.hostname.length)));
  const lines = changes.map((c) => {
    const head = `${MARK[c.action]} ${c.action.padEnd(9)} ${c.hostname.padEnd(width)}`;
    const from = 'from' in c ? ` (${c.from.join(', ')})` : '';
    switch (c.action) {
      case 'create':
        return `${head}  custom domain in zone ${c.zone.name} -> worker ${owner.service}${from}`;
      case 'update':
        return `${head}  ${c.reason}${from}`;
      case 'unchanged':
        return `${head}  zone ${c.zone.name}${from}`;
      case 'delete':
        return `${head}  custom domain of worker ${owner.service} that no route names`;
      case 'stale':
        return `${head}  custom domain of worker ${owner.service} that no route names; kept (--policy upsert-only)`;
      case 'foreign':
        return `${head}  attached to worker ${c.current.service} (${c.current.environment}), not ours: not touched${from}`;
      case 'no-zone':
        return `${head}  ${c.reason}: add the zone to the account or point it at the Worker yourself${from}`;
      case 'wildcard':
        return `${head}  Custom Domains cannot be wildcards: add a proxied DNS record ${c.hostname} and a Worker route ${c.hostname}/*${c.zone ? ` in zone ${c.zone.name}` : ' (no zone of the account contains it)'} yourself (wrangler.toml routes)${from}`;
    }
  });
  const count = (a: Action) => changes.filter((c) => c.action === a).length;
  const summary = [
    `${count('create')} to create`,
    `${count('update')} to update`,
    `${count('delete')} to delete`,
    `${count('unchanged')} unchanged`,
    ...(count('stale') ? [`${count('stale')} stale kept`] : []),
    `${count('foreign')} foreign`,
    `${count('no-zone')} in no zone`,
    `${count('wildcard')} wildcard`,
  ];
  return [...lines, `plan: ${summary.join(', ')}`];
}
