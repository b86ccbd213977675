/** The one validation pipeline: resources and snapshots through the strict zod contract, issues as located messages. */
import type { z } from 'zod';
import { checkReferences } from './references.js';
import { RESOURCE_KINDS, Resource, Snapshot, TableIndex, TableShard } from './snapshot.js';

export type PathSeg = string | number;

/**
 * One problem, located by its path inside the value that was checked. When the problem is a key that should not be
 * there (`matchs:`), `key` names it and `path` ends with it, so a YAML reader can point at the key itself.
 */
export interface LocatedIssue {
  path: PathSeg[];
  message: string;
  severity: 'error' | 'warning';
  key?: string;
  /** Index of the resource in the checked list (resource lists only). */
  index?: number;
}

/** `spec.rules[0].matchs`: how route authors read a path. */
export const formatPath = (p: readonly PathSeg[]) =>
  p.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');

/** `resources.0.spec.rules.0.matchs`: how JSON bodies of the admin API name a field. */
export const dottedPath = (p: readonly PropertyKey[]) => p.map(String).join('.');

/**
 * Turns zod issues into located messages: one message per field (a malformed duration would otherwise also fail every
 * range check on it), one per unknown key. `missing(path)` says whether the input lacks the node at `path`, so a
 * missing field reads "required" rather than "expected string".
 */
export function locateIssues(
  issues: readonly z.core.$ZodIssue[],
  opts: { prefix?: PathSeg[]; index?: number; missing?: (path: PathSeg[]) => boolean } = {},
): LocatedIssue[] {
  const prefix = opts.prefix ?? [];
  const out: LocatedIssue[] = [];
  const seen = new Set<string>();
  const extra = opts.index === undefined ? {} : { index: opts.index };
  for (const issue of issues) {
    const p = issue.path as PathSeg[];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: [...prefix, ...p, key], key, message: `unknown field "${key}"`, severity: 'error', ...extra });
      continue;
    }
    const id = JSON.stringify(p);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ path: [...prefix, ...p], message: describeIssue(issue, opts.missing?.(p) ?? false), severity: 'error', ...extra });
  }
  return out;
}

/** zod's default wording is written for developers; route authors and API callers get the constraint stated plainly. */
export function describeIssue(issue: z.core.$ZodIssue, missing: boolean): string {
  switch (issue.code) {
    case 'invalid_type':
      return missing ? `required (expected ${issue.expected})` : `expected ${issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union': {
      const disc = issue as unknown as { discriminator?: string; options?: unknown[] };
      if (disc.discriminator && disc.options)
        return missing ? `required (one of ${disc.options.join(', ')})` : `must be one of ${disc.options.join(', ')}`;
      const literals = issue.errors.flatMap((branch) =>
        branch.length === 1 && branch[0]!.code === 'invalid_value' ? branch[0]!.values : [undefined],
      );
      if (literals.length && literals.every((v) => v !== undefined))
        return `must be one of ${literals.map((v) => JSON.stringify(v)).join(', ')}`;
      return issue.message;
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = Number(small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum);
      const inclusive = issue.inclusive !== false;
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint')
        return `must be ${small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'} ${bound}`;
      const unit = issue.origin === 'string' ? 'character' : 'item';
      return `must have ${small ? 'at least' : 'at most'} ${bound} ${unit}${bound === 1 ? '' : 's'}`;
    }
    default:
      return issue.message;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const KIND_LIST = RESOURCE_KINDS.join(', ');

export type ResourceCheck = { ok: true; resource: Resource } | { ok: false; issues: LocatedIssue[] };

/** One resource through the schema. `missing` lets a YAML reader tell "required" from "wrong type". */
export function validateResource(
  raw: unknown,
  opts: { prefix?: PathSeg[]; index?: number; missing?: (path: PathSeg[]) => boolean } = {},
): ResourceCheck {
  const extra = opts.index === undefined ? {} : { index: opts.index };
  const prefix = opts.prefix ?? [];
  if (!isPlainObject(raw))
    return {
      ok: false,
      issues: [{ path: prefix, message: 'a resource must be an object with apiVersion, kind, metadata and spec', severity: 'error', ...extra }],
    };
  if (raw.kind === undefined)
    return { ok: false, issues: [{ path: prefix, message: `missing kind (expected ${KIND_LIST})`, severity: 'error', ...extra }] };
  if (typeof raw.kind !== 'string' || !(RESOURCE_KINDS as readonly string[]).includes(raw.kind))
    return {
      ok: false,
      issues: [{ path: [...prefix, 'kind'], message: `unknown kind ${String(raw.kind)} (expected ${KIND_LIST})`, severity: 'error', ...extra }],
    };
  const r = Resource.safeParse(raw);
  return r.success ? { ok: true, resource: r.data } : { ok: false, issues: locateIssues(r.error.issues, opts) };
}

/**
 * A list of resources as one publish: every schema issue of every resource, then (only when all parse) the
 * cross-resource checks. Paths start with `prefix` and the resource's index (`resources.0.spec...`).
 */
export function validateResources(
  raws: readonly unknown[],
  prefix: PathSeg[] = [],
): { resources: Resource[]; errors: LocatedIssue[]; warnings: LocatedIssue[] } {
  const errors: LocatedIssue[] = [];
  const resources: Resource[] = [];
  raws.forEach((raw, index) => {
    const r = validateResource(raw, { prefix: [...prefix, index], index });
    if (r.ok) resources.push(r.resource);
    else errors.push(...r.issues);
  });
  if (errors.length) return { resources: [], errors, warnings: [] };
  const refs = checkReferences(resources).map<LocatedIssue>((i) => ({
    index: i.index,
    path: [...prefix, i.index, ...i.path],
    message: i.message,
    severity: i.severity,
  }));
  return {
    resources: refs.some((i) => i.severity === 'error') ? [] : resources,
    errors: refs.filter((i) => i.severity === 'error'),
    warnings: refs.filter((i) => i.severity === 'warning'),
  };
}

/** A KV snapshot as the Worker reads it: the same strict schema. */
export function validateSnapshot(raw: unknown): { ok: true; snapshot: Snapshot } | { ok: false; issues: LocatedIssue[] } {
  const r = Snapshot.safeParse(raw);
  return r.success ? { ok: true, snapshot: r.data } : { ok: false, issues: locateIssues(r.error.issues) };
}

/**
 * What the pointer names, as the Worker reads it: a whole snapshot, or the index of a sharded table (it has
 * `sharding`). Both through their strict schema.
 */
export function validateTableRoot(
  raw: unknown,
): { ok: true; snapshot: Snapshot } | { ok: true; index: TableIndex } | { ok: false; issues: LocatedIssue[] } {
  if (isPlainObject(raw) && 'sharding' in raw) {
    const r = TableIndex.safeParse(raw);
    return r.success ? { ok: true, index: r.data } : { ok: false, issues: locateIssues(r.error.issues) };
  }
  return validateSnapshot(raw);
}

/** One shard of a sharded table: the same strict schema for its routes and Backends. */
export function validateShard(raw: unknown): { ok: true; shard: TableShard } | { ok: false; issues: LocatedIssue[] } {
  const r = TableShard.safeParse(raw);
  return r.success ? { ok: true, shard: r.data } : { ok: false, issues: locateIssues(r.error.issues) };
}
