/** Checks that span documents: duplicate names, backendRefs and targetRefs that point nowhere, unreachable endpoint URLs. */
import { objectKey, resourceKey } from './keys.js';
import { SECURITY_POLICY_ENFORCED } from './securitypolicy.js';
import type { Resource } from './snapshot.js';

export interface ReferenceIssue {
  /** Index of the resource in the list that was checked. */
  index: number;
  /** Path inside that resource, as zod issue paths are. */
  path: (string | number)[];
  message: string;
  severity: 'error' | 'warning';
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/;
const IP_ADDRESS = /^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\])$/i;

export const isEdgewayBackendRef = (ref: { group?: string | undefined; kind?: string | undefined }) =>
  (ref.group === undefined || ref.group === '' || ref.group === 'edgeway.dev') && (ref.kind === undefined || ref.kind === 'Backend');

export function checkReferences(resources: Resource[]): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const seen = new Map<string, number>();
  const backends = new Set<string>();
  const routes = new Map<string, Set<string>>();
  // SecurityPolicy attachment: one policy per route and per rule (a rule's policy replaces the route's for that rule).
  const securityTargets = new Map<string, string>();
  resources.forEach((r, index) => {
    const id = `${r.kind} ${resourceKey(r)}`;
    const first = seen.get(id);
    if (first !== undefined)
      issues.push({ index, path: ['metadata', 'name'], message: `duplicate ${id} (also document ${first + 1})`, severity: 'error' });
    else seen.set(id, index);
    if (r.kind === 'Backend') backends.add(resourceKey(r));
    if (r.kind === 'HTTPRoute')
      routes.set(resourceKey(r), new Set(r.spec.rules.flatMap((rule) => (rule.name ? [rule.name] : []))));
  });

  resources.forEach((r, index) => {
    if (r.kind === 'HTTPRoute') {
      r.spec.rules.forEach((rule, ri) => {
        const refs: { ref: { group?: string; kind?: string; name: string; namespace?: string }; path: (string | number)[]; effect: string }[] = [];
        const share = 'its traffic share would get 500';
        rule.backendRefs?.forEach((ref, bi) => refs.push({ ref, path: ['spec', 'rules', ri, 'backendRefs', bi], effect: share }));
        rule.filters?.forEach((f, fi) => {
          if (f.type === 'RequestMirror')
            refs.push({ ref: f.requestMirror.backendRef, path: ['spec', 'rules', ri, 'filters', fi, 'requestMirror', 'backendRef'], effect: 'nothing would be mirrored' });
        });
        // Gateway API: an unresolved backendRef does not invalidate the route (ResolvedRefs=False); the rest of the
        // route serves and the unresolved share answers 500 at request time. So these are warnings (validate
        // --strict fails on them), not errors that would keep a whole file from being published.
        for (const { ref, path, effect } of refs) {
          if (!isEdgewayBackendRef(ref)) {
            issues.push({ index, path: [...path, 'kind'], message: `unsupported backend ${ref.group ?? ''}/${ref.kind ?? ''}: only edgeway.dev/Backend (${effect})`, severity: 'warning' });
            continue;
          }
          const ns = ref.namespace ?? r.metadata.namespace;
          if (!backends.has(`${ns}/${ref.name}`))
            issues.push({ index, path: [...path, 'name'], message: `Backend ${ns}/${ref.name} is not defined (${effect})`, severity: 'warning' });
        }
      });
    }
    if (r.kind === 'Backend') {
      r.spec.endpoints.forEach((ep, ei) => {
        let host = '';
        try {
          host = new URL(ep.url).hostname;
        } catch {
          return;
        }
        if (IP_ADDRESS.test(host) && !LOOPBACK.test(host))
          issues.push({ index, path: ['spec', 'endpoints', ei, 'url'], message: `endpoint ${ep.url} is a bare IP: production Workers cannot fetch IP addresses (error 1003); publish a hostname`, severity: 'warning' });
      });
      const fb = r.spec.failover?.fallbackBackend;
      if (fb && !backends.has(`${r.metadata.namespace}/${fb}`))
        issues.push({ index, path: ['spec', 'failover', 'fallbackBackend'], message: `fallback Backend ${r.metadata.namespace}/${fb} is not defined`, severity: 'error' });
    }
    if (r.kind === 'RateLimitPolicy' || r.kind === 'SecurityPolicy') {
      r.spec.targetRefs.forEach((t, ti) => {
        const rules = routes.get(objectKey(r.metadata.namespace, t.name));
        if (!rules)
          issues.push({ index, path: ['spec', 'targetRefs', ti, 'name'], message: `HTTPRoute ${r.metadata.namespace}/${t.name} is not defined`, severity: 'error' });
        else if (t.sectionName && !rules.has(t.sectionName))
          issues.push({ index, path: ['spec', 'targetRefs', ti, 'sectionName'], message: `HTTPRoute ${r.metadata.namespace}/${t.name} has no rule named "${t.sectionName}"`, severity: 'error' });
      });
    }
    if (r.kind === 'SecurityPolicy') {
      r.spec.targetRefs.forEach((t, ti) => {
        const target = `HTTPRoute ${r.metadata.namespace}/${t.name}${t.sectionName ? ` rule "${t.sectionName}"` : ''}`;
        const other = securityTargets.get(target);
        if (other !== undefined && other !== r.metadata.name)
          issues.push({ index, path: ['spec', 'targetRefs', ti], message: `${target} already has SecurityPolicy ${r.metadata.namespace}/${other}: one policy per route or rule`, severity: 'error' });
        else securityTargets.set(target, r.metadata.name);
      });
      if (!SECURITY_POLICY_ENFORCED)
        issues.push({ index, path: ['kind'], message: 'SecurityPolicy is validated but not yet enforced by this gateway build: publishing it would leave its routes unprotected', severity: 'error' });
    }
  });
  return issues;
}
