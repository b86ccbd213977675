/** The import graph of src/ (every relative import, type-only and dynamic ones included) for the architecture tests. */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface ModuleNode {
  /** Repository-relative path with forward slashes, e.g. "src/app/index.ts". */
  file: string;
  /** Resolved repository-relative paths of the relative imports. */
  local: string[];
  /** Bare and scheme specifiers as written ("hono", "node:fs", "cloudflare:workers"). */
  external: string[];
}

const toPosix = (p: string) => p.split(path.sep).join('/');

/** Every .ts file under `dir` (relative to `root`), sorted. */
export function listSources(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(root, d), { withFileTypes: true })) {
      const rel = `${d}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  walk(dir);
  return out.sort();
}

/** Resolves "./x.js" the way moduleResolution Bundler does for our sources (.js -> .ts, directory -> index.ts). */
function resolveLocal(root: string, from: string, spec: string): string {
  const base = toPosix(path.normalize(path.join(path.dirname(from), spec)));
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}/index.ts`, base];
  return candidates.find((c) => fs.existsSync(path.join(root, c)) && fs.statSync(path.join(root, c)).isFile()) ?? base;
}

export function readModule(root: string, file: string): ModuleNode {
  const info = ts.preProcessFile(fs.readFileSync(path.join(root, file), 'utf8'), true, true);
  const local: string[] = [];
  const external: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (fileName.startsWith('.')) local.push(resolveLocal(root, file, fileName));
    else external.push(fileName);
  }
  return { file, local: [...new Set(local)], external: [...new Set(external)] };
}

export function buildGraph(root: string, dir = 'src'): Map<string, ModuleNode> {
  return new Map(listSources(root, dir).map((f) => [f, readModule(root, f)]));
}

/**
 * Strongly connected components with more than one module (or a module importing itself): each is one or more import
 * cycles. Tarjan's algorithm; edges to files outside the graph are ignored.
 */
export function findCycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** Every module reachable from `entry`, each with the chain of imports that reaches it (for error messages). */
export function reachable(graph: ReadonlyMap<string, ModuleNode>, entry: string): Map<string, string[]> {
  const via = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length) {
    const f = queue.shift()!;
    for (const dep of graph.get(f)?.local ?? []) {
      if (via.has(dep)) continue;
      via.set(dep, [...via.get(f)!, dep]);
      queue.push(dep);
    }
  }
  return via;
}
