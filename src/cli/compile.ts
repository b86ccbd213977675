/** Turns route files into validated resources plus every problem found, each located at file:line:col. */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { BackendObjectRef, checkReferences, RateLimitPolicy, Resource, RESOURCE_KINDS, type Resource as ResourceT } from '../schema.js';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  file: string;
  /** 1-based; 0 when the problem is the file itself (unreadable). */
  line: number;
  col: number;
  message: string;
  severity: Severity;
}

export interface Source {
  /** Path as it should be printed (relative to the cwd for files read from disk). */
  file: string;
  text: string;
}

export interface CompileResult {
  resources: ResourceT[];
  diagnostics: Diagnostic[];
  errors: number;
  warnings: number;
  files: string[];
}

type PathSeg = string | number;

const KIND_LIST = RESOURCE_KINDS.join(', ');

export const formatPath = (p: readonly PathSeg[]) =>
  p.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file;
  return `${where}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

/** One line for humans: what was checked and how it went. */
export function summarize(r: CompileResult): string {
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const scope = `${plural(r.resources.length, 'resource')} in ${plural(r.files.length, 'file')}`;
  const warn = r.warnings ? `, ${plural(r.warnings, 'warning')}` : '';
  return r.errors ? `${plural(r.errors, 'error')}${warn} (${scope})` : `ok: ${scope}${warn}`;
}

/** Expands directories (recursively, sorted) into their .yaml/.yml files; explicit files are kept as given. */
export async function collectFiles(inputs: string[]): Promise<{ files: string[]; diagnostics: Diagnostic[] }> {
  const files: string[] = [];
  const diagnostics: Diagnostic[] = [];
  const walk = async (dir: string) => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (/\.ya?ml$/i.test(e.name)) files.push(p);
    }
  };
  for (const input of inputs) {
    try {
      if ((await stat(input)).isDirectory()) {
        const before = files.length;
        await walk(input);
        if (files.length === before)
          diagnostics.push({ file: input, line: 0, col: 0, severity: 'error', message: 'no .yaml or .yml files in this directory' });
      } else files.push(input);
    } catch (e) {
      diagnostics.push({
        file: input,
        line: 0,
        col: 0,
        severity: 'error',
        message: `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      });
    }
  }
  return { files: [...new Set(files)], diagnostics };
}

/** Reads and compiles files and directories from disk; printed paths are relative to the cwd. */
export async function compilePaths(inputs: string[]): Promise<CompileResult> {
  const { files, diagnostics } = await collectFiles(inputs);
  const sources: Source[] = [];
  for (const f of files) {
    const shown = path.relative(process.cwd(), path.resolve(f)) || f;
    try {
      sources.push({ file: shown, text: await readFile(f, 'utf8') });
    } catch (e) {
      diagnostics.push({
        file: shown,
        line: 0,
        col: 0,
        severity: 'error',
        message: `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      });
    }
  }
  const result = compileSources(sources);
  return finish(result.resources, [...diagnostics, ...result.diagnostics], result.files);
}

interface Parsed {
  source: Source;
  doc: Document.Parsed;
  lc: LineCounter;
  /** Set when the document passed the schema; otherwise a stand-in used only so references to it still resolve. */
  resource?: ResourceT;
  placeholder?: ResourceT;
}

/** Pure core: parse every document of every source, validate each, then check references across all of them. */
export function compileSources(sources: Source[]): CompileResult {
  const diagnostics: Diagnostic[] = [];
  const parsed: Parsed[] = [];
  for (const source of sources) {
    const lc = new LineCounter();
    const docs = parseAllDocuments(source.text, { lineCounter: lc, prettyErrors: false });
    const at = (offset: number, message: string, severity: Severity = 'error') => {
      const { line, col } = lc.linePos(offset);
      diagnostics.push({ file: source.file, line, col, message, severity });
    };
    for (const doc of docs) {
      for (const e of doc.errors) at(e.pos[0], `YAML syntax error: ${e.message.trim()}`);
      for (const w of doc.warnings) at(w.pos[0], w.message.trim(), 'warning');
      if (doc.errors.length) continue;
      if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue; // empty document
      const entry: Parsed = { source, doc, lc };
      let raw: unknown;
      try {
        raw = doc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        at(doc.contents.range[0], `YAML error: ${(e as Error).message}`);
        continue;
      }
      const located = (p: PathSeg[], message: string, severity: Severity = 'error', key?: string) =>
        at(locate(doc, p, key), p.length || key ? `${formatPath(key ? [...p, key] : p)}: ${message}` : message, severity);
      if (!isPlainObject(raw)) {
        located([], 'a document must be a mapping with apiVersion, kind, metadata and spec');
        continue;
      }
      if (raw.kind === undefined) {
        located([], `missing kind (expected ${KIND_LIST})`);
        continue;
      }
      if (typeof raw.kind !== 'string' || !(RESOURCE_KINDS as readonly string[]).includes(raw.kind)) {
        at(locate(doc, ['kind']), `unknown kind ${String(raw.kind)} (expected ${KIND_LIST})`);
        continue;
      }
      for (const u of unknownFields(Resource, raw)) located(u.path, `unknown field "${u.key}"`, 'error', u.key);
      const result = Resource.safeParse(raw);
      if (result.success) {
        entry.resource = result.data;
      } else {
        // One message per field: a malformed duration would otherwise also fail every range check on it.
        const seen = new Set<string>();
        for (const issue of result.error.issues) {
          if (issue.code === 'unrecognized_keys') {
            for (const key of issue.keys) located(issue.path as PathSeg[], `unknown field "${key}"`, 'error', key);
            continue;
          }
          const p = issue.path as PathSeg[];
          if (seen.has(formatPath(p))) continue;
          seen.add(formatPath(p));
          located(p, describeIssue(issue, !hasPath(doc, p)));
        }
        entry.placeholder = placeholderFor(raw);
      }
      parsed.push(entry);
    }
  }

  // Cross-document checks see invalid documents as stand-ins, so a typo in a Backend's endpoint does not also
  // produce a misleading "Backend ... is not defined" on every route that uses it, and the references an invalid
  // document does hold are still checked.
  const checked = parsed.filter((p) => p.resource ?? p.placeholder);
  const refIssues = checkReferences(checked.map((p) => (p.resource ?? p.placeholder)!));
  for (const issue of refIssues) {
    const entry = checked[issue.index]!;
    const { line, col } = entry.lc.linePos(locate(entry.doc, issue.path));
    const message = issue.path.length ? `${formatPath(issue.path)}: ${issue.message}` : issue.message;
    diagnostics.push({ file: entry.source.file, line, col, message, severity: issue.severity });
  }
  const resources = parsed.flatMap((p) => (p.resource ? [p.resource] : []));
  return finish(
    resources,
    diagnostics,
    sources.map((s) => s.file),
  );
}

/** Validates already-parsed objects (the dev server's publish, the admin path): same checks, located by index. */
export function validateObjects(objects: unknown[]): { resources: ResourceT[]; errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const resources: ResourceT[] = [];
  objects.forEach((raw, i) => {
    const where = (p: PathSeg[]) => `resource ${i + 1}${p.length ? ` ${formatPath(p)}` : ''}`;
    if (!isPlainObject(raw) || typeof raw.kind !== 'string' || !(RESOURCE_KINDS as readonly string[]).includes(raw.kind)) {
      errors.push(`${where([])}: unknown kind ${isPlainObject(raw) ? String(raw.kind) : typeof raw} (expected ${KIND_LIST})`);
      return;
    }
    for (const u of unknownFields(Resource, raw)) errors.push(`${where(u.path)}: unknown field "${u.key}"`);
    const result = Resource.safeParse(raw);
    if (!result.success) {
      const seen = new Set<string>();
      for (const issue of result.error.issues) {
        if (issue.code === 'unrecognized_keys')
          for (const key of issue.keys) errors.push(`${where(issue.path as PathSeg[])}: unknown field "${key}"`);
        else if (!seen.has(formatPath(issue.path as PathSeg[]))) {
          seen.add(formatPath(issue.path as PathSeg[]));
          errors.push(`${where(issue.path as PathSeg[])}: ${describeIssue(issue, false)}`);
        }
      }
    } else resources.push(result.data);
  });
  if (errors.length === 0)
    for (const issue of checkReferences(resources))
      (issue.severity === 'error' ? errors : warnings).push(`resource ${issue.index + 1} ${formatPath(issue.path)}: ${issue.message}`);
  return { resources, errors, warnings };
}

function finish(resources: ResourceT[], diagnostics: Diagnostic[], files: string[]): CompileResult {
  const order = new Map(files.map((f, i) => [f, i]));
  diagnostics.sort(
    (a, b) =>
      (order.get(a.file) ?? -1) - (order.get(b.file) ?? -1) ||
      a.line - b.line ||
      a.col - b.col ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1),
  );
  return {
    resources,
    diagnostics,
    errors: diagnostics.filter((d) => d.severity === 'error').length,
    warnings: diagnostics.filter((d) => d.severity === 'warning').length,
    files,
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** zod's default wording is written for developers; route authors get the constraint stated plainly. */
function describeIssue(issue: z.core.$ZodIssue, missing: boolean): string {
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

interface UnknownField {
  path: PathSeg[];
  key: string;
}

/**
 * zod's plain z.object() silently drops keys it does not know, so a typo such as `matchs:` in a rule would vanish
 * and the rule would match every path. Walk the schema alongside the input and report such keys; strict objects
 * are left to zod (it reports them itself) and loose ones (metadata, parentRefs) accept anything by design.
 */
export function unknownFields(schema: z.core.$ZodType, value: unknown, at: PathSeg[] = [], out: UnknownField[] = []): UnknownField[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return unknownFields(def.innerType as z.core.$ZodType, value, at, out);
    case 'pipe':
      return unknownFields(def.in as z.core.$ZodType, value, at, out);
    case 'lazy':
      return unknownFields((def.getter as () => z.core.$ZodType)(), value, at, out);
    case 'array':
      if (Array.isArray(value)) value.forEach((v, i) => unknownFields(def.element as z.core.$ZodType, v, [...at, i], out));
      return out;
    case 'record':
      if (isPlainObject(value))
        for (const [k, v] of Object.entries(value)) unknownFields(def.valueType as z.core.$ZodType, v, [...at, k], out);
      return out;
    case 'union': {
      const options = def.options as z.core.$ZodType[];
      const discriminator = def.discriminator as string | undefined;
      if (discriminator && isPlainObject(value)) {
        const match = options.find((o) => {
          const d = (o._zod.def as unknown as { shape?: Record<string, z.core.$ZodType> }).shape?.[discriminator];
          const values = (d?._zod.def as unknown as { values?: unknown[] } | undefined)?.values;
          return values?.includes(value[discriminator]);
        });
        if (match) unknownFields(match, value, at, out);
      } else if (isPlainObject(value)) {
        // Without a discriminator, only judge by the branch that accepts the value.
        const match = options.find((o) => (o as unknown as z.ZodType).safeParse?.(value).success);
        if (match) unknownFields(match, value, at, out);
      }
      return out;
    }
    case 'object': {
      if (!isPlainObject(value)) return out;
      const shape = def.shape as Record<string, z.core.$ZodType>;
      if (def.catchall === undefined) for (const key of Object.keys(value)) if (!(key in shape)) out.push({ path: at, key });
      for (const [key, child] of Object.entries(shape)) if (key in value) unknownFields(child, value[key], [...at, key], out);
      return out;
    }
    default:
      return out;
  }
}

function keyOf(n: unknown): unknown {
  return isScalar(n) ? n.value : n;
}

function childOf(doc: Document.Parsed, node: unknown, seg: PathSeg): { key?: Node; value: unknown } | undefined {
  const target = isAlias(node) ? node.resolve(doc) : node;
  if (isMap(target)) {
    const pair = target.items.find((p) => isPair(p) && String(keyOf(p.key)) === String(seg));
    return pair ? { key: pair.key as Node, value: pair.value } : undefined;
  }
  if (isSeq(target) && typeof seg === 'number') {
    const item = target.items[seg];
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}

function hasPath(doc: Document.Parsed, p: PathSeg[]): boolean {
  let node: unknown = doc.contents;
  for (const seg of p) {
    const c = childOf(doc, node, seg);
    if (!c || c.value === null || c.value === undefined) return false;
    node = c.value;
  }
  return true;
}

/**
 * Offset of the YAML node at a zod issue path. When the path runs past what the document holds (a missing field),
 * the deepest existing node's key is used; with `key`, the offending key itself inside the node at `p`.
 */
function locate(doc: Document.Parsed, p: PathSeg[], key?: string): number {
  let node: unknown = doc.contents;
  let anchor: number = doc.contents?.range[0] ?? 0;
  for (const seg of [...p, ...(key === undefined ? [] : [key])]) {
    const c = childOf(doc, node, seg);
    if (!c) break;
    const valueNode = c.value as Node | null;
    if (key !== undefined && seg === key && c.key?.range) return c.key.range[0];
    if (valueNode && typeof valueNode === 'object' && 'range' in valueNode && valueNode.range) anchor = valueNode.range[0];
    else if (c.key?.range) anchor = c.key.range[0];
    // Missing children of an empty value (`name:`) are located at the key that has no value.
    if (!valueNode && c.key?.range) anchor = c.key.range[0];
    node = valueNode;
  }
  return anchor;
}

/**
 * Stand-in for a document that failed the schema but still names itself, used only for cross-document checks: it
 * keeps the references that do parse (so a missing Backend is still reported) and lets others resolve to it. Arrays
 * are sparse at the entries that did not parse, so indices (and therefore locations) stay those of the file.
 */
function placeholderFor(raw: Record<string, unknown>): ResourceT | undefined {
  const meta = isPlainObject(raw.metadata) ? raw.metadata : {};
  if (typeof meta.name !== 'string') return undefined;
  const metadata = { name: meta.name, namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default' };
  const spec = isPlainObject(raw.spec) ? raw.spec : {};
  const sparse = <T>(items: unknown, pick: (item: unknown) => T | undefined): T[] => {
    const list = Array.isArray(items) ? items : [];
    const out: T[] = new Array<T>(list.length);
    list.forEach((item, i) => {
      const v = pick(item);
      if (v !== undefined) out[i] = v;
    });
    return out;
  };
  const ref = (r: unknown) => {
    if (!isPlainObject(r)) return undefined;
    const parsed = BackendObjectRef.safeParse({ group: r.group, kind: r.kind, name: r.name, namespace: r.namespace });
    return parsed.success ? parsed.data : undefined;
  };
  if (raw.kind === 'Backend') {
    const failover =
      isPlainObject(spec.failover) && typeof spec.failover.fallbackBackend === 'string'
        ? { fallbackBackend: spec.failover.fallbackBackend }
        : undefined;
    return { apiVersion: 'edgeway.dev/v1alpha1', kind: 'Backend', metadata, spec: { endpoints: [], failover } } as unknown as ResourceT;
  }
  if (raw.kind === 'HTTPRoute') {
    const rules = (Array.isArray(spec.rules) ? spec.rules : []).map((r) => {
      const rule = isPlainObject(r) ? r : {};
      return {
        name: typeof rule.name === 'string' ? rule.name : undefined,
        matches: [],
        backendRefs: sparse(rule.backendRefs, ref),
        filters: sparse(rule.filters, (f) => {
          const mirror =
            isPlainObject(f) && f.type === 'RequestMirror' && isPlainObject(f.requestMirror) ? ref(f.requestMirror.backendRef) : undefined;
          return mirror && { type: 'RequestMirror', requestMirror: { backendRef: mirror } };
        }),
      };
    });
    return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata, spec: { rules } } as unknown as ResourceT;
  }
  const targetRef = RateLimitPolicy.shape.spec.shape.targetRefs.element;
  const targetRefs = sparse(spec.targetRefs, (t) => {
    const parsed = targetRef.safeParse(t);
    return parsed.success ? parsed.data : undefined;
  });
  return { apiVersion: 'edgeway.dev/v1alpha1', kind: 'RateLimitPolicy', metadata, spec: { targetRefs } } as unknown as ResourceT;
}
