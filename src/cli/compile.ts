/** Turns route files into validated resources plus every problem found, each located at file:line:col. */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { BackendObjectRef } from '../schema/httproute.js';
import { RateLimitPolicy } from '../schema/ratelimitpolicy.js';
import { checkReferences } from '../schema/references.js';
import { RESOURCE_KINDS, type Resource as ResourceT } from '../schema/snapshot.js';
import { formatPath, validateResource, validateResources, type LocatedIssue, type PathSeg } from '../schema/validate.js';
import { zoneIssues } from './zones.js';

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

export interface CompileOptions {
  /** The Worker's zones (`validate --zone`, wrangler.toml routes): warn about endpoints outside them (src/cli/zones.ts). */
  zones?: readonly string[];
}

export interface CompileResult {
  resources: ResourceT[];
  diagnostics: Diagnostic[];
  errors: number;
  warnings: number;
  files: string[];
}

const KIND_LIST = RESOURCE_KINDS.join(', ');

export { formatPath };

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
export async function compilePaths(inputs: string[], options: CompileOptions = {}): Promise<CompileResult> {
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
  const result = compileSources(sources, options);
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
export function compileSources(sources: Source[], options: CompileOptions = {}): CompileResult {
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
      // An unknown key is located at the key itself, everything else at the node its path names.
      const locatedIssue = (i: LocatedIssue) =>
        i.key === undefined ? located(i.path, i.message, i.severity) : located(i.path.slice(0, -1), i.message, i.severity, i.key);
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
      // The shared pipeline (src/schema/validate.ts): the admin API and the snapshot reader judge exactly the same way.
      const result = validateResource(raw, { missing: (p) => !hasPath(doc, p) });
      if (result.ok) entry.resource = result.resource;
      else {
        for (const issue of result.issues) locatedIssue(issue);
        entry.placeholder = placeholderFor(raw);
      }
      parsed.push(entry);
    }
  }

  // Cross-document checks see invalid documents as stand-ins, so a typo in a Backend's endpoint does not also
  // produce a misleading "Backend ... is not defined" on every route that uses it, and the references an invalid
  // document does hold are still checked.
  const checked = parsed.filter((p) => p.resource ?? p.placeholder);
  const valid = checked.map((p) => p.resource);
  const zones = options.zones ? zoneIssues(valid, options.zones) : [];
  const refIssues = [...checkReferences(checked.map((p) => (p.resource ?? p.placeholder)!)), ...zones];
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

/** Validates already-parsed objects (the dev server's publish): the shared pipeline, located by resource number. */
export function validateObjects(objects: unknown[]): { resources: ResourceT[]; errors: string[]; warnings: string[] } {
  const v = validateResources(objects);
  const line = (i: LocatedIssue) => {
    const inner = i.path.slice(1);
    // "resource 3: unknown kind Gateway (...)": the message names the field already.
    if (inner.length === 1 && inner[0] === 'kind') return `resource ${(i.index ?? 0) + 1}: ${i.message}`;
    return `resource ${(i.index ?? 0) + 1}${inner.length ? ` ${formatPath(inner)}` : ''}: ${i.message}`;
  };
  return { resources: v.resources, errors: v.errors.map(line), warnings: v.warnings.map(line) };
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
  const kind = raw.kind === 'SecurityPolicy' ? 'SecurityPolicy' : 'RateLimitPolicy';
  return { apiVersion: 'edgeway.dev/v1alpha1', kind, metadata, spec: { targetRefs } } as unknown as ResourceT;
}
