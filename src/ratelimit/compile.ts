/** Compiles RateLimitPolicies once per routing-table version into a per-rule lookup. */
import type { CompiledPolicy, PolicyIndex } from '../ratelimit.js';
import { parseDuration } from '../schema/duration.js';
import { objectKey, resourceKey } from '../schema/keys.js';
import type { RateLimitPolicy } from '../schema/ratelimitpolicy.js';
import { limitNames } from './headers.js';

interface Target {
  base: CompiledPolicy;
  whole: boolean;
  sections: Set<string>;
}

function compileOne(p: RateLimitPolicy): CompiledPolicy {
  const s = p.spec;
  return {
    id: resourceKey(p),
    config: {
      algorithm: s.algorithm,
      limits: s.limits.map((l) => ({ requests: l.requests, windowMs: parseDuration(l.window) })),
      countDenied: s.countDenied,
    },
    keys: s.keys,
    clientIP: s.clientIP,
    missingKey: s.missingKey,
    failOpen: s.failOpen,
    legacyHeaders: s.legacyHeaders,
    limitNames: limitNames(
      p.metadata.name,
      s.limits.map((l) => l.window),
    ),
  };
}

/** Policies must already be schema-validated (zod defaults applied). */
export function compilePolicies(policies: RateLimitPolicy[]): PolicyIndex {
  const byRoute = new Map<string, Target[]>();
  for (const p of policies) {
    const base = compileOne(p);
    const perRoute = new Map<string, Target>();
    for (const ref of p.spec.targetRefs) {
      const routeKey = objectKey(p.metadata.namespace, ref.name);
      let t = perRoute.get(routeKey);
      if (!t) {
        t = { base, whole: false, sections: new Set() };
        perRoute.set(routeKey, t);
        byRoute.set(routeKey, [...(byRoute.get(routeKey) ?? []), t]);
      }
      if (ref.sectionName) t.sections.add(ref.sectionName);
      else t.whole = true;
    }
  }
  const memo = new Map<string, CompiledPolicy[]>();
  return {
    size: policies.length,
    forRule(routeKey, ruleName) {
      const k = `${routeKey}\u0000${ruleName ?? ''}`;
      let out = memo.get(k);
      if (out) return out;
      out = [];
      for (const t of byRoute.get(routeKey) ?? []) {
        // A targetRef naming this rule wins over one naming the whole route: the rule then has its own counters.
        if (ruleName !== undefined && t.sections.has(ruleName)) out.push({ ...t.base, section: ruleName });
        else if (t.whole) out.push(t.base);
      }
      memo.set(k, out);
      return out;
    },
  };
}
