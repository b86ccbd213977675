/** The shape of src/ (docs/ENGINEERING.md, "Module layout"): no import cycles, no Node in the Worker, type-only parent files. */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { buildGraph, findCycles, reachable } from '../support/import-graph.js';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const graph = buildGraph(ROOT, 'src');

/** Code that runs only in Node, and Node-only packages (the same lists as eslint.config.js; tsconfig.worker.json excludes it). */
const NODE_ONLY = ['src/cli/', 'src/agent/', 'src/dev/', 'src/admin/write-openapi.ts'];
const isNodeOnly = (file: string) => NODE_ONLY.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p));
const NODE_ONLY_PACKAGES = ['@kubernetes/client-node', 'prom-client', 'miniflare', 'wrangler'];
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const isNodeBuiltin = (spec: string) =>
  spec.startsWith('node:') ||
  NODE_BUILTINS.has(spec.split('/')[0]!) ||
  NODE_ONLY_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`));

describe('import graph helpers', () => {
  it('finds a cycle, and only the modules on it', () => {
    const edges = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ]);
    expect(findCycles(edges)).toEqual([['a', 'b', 'c'], ['e']]);
    expect(
      findCycles(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('sees type-only, re-export and dynamic imports', () => {
    const m = graph.get('src/index.ts')!;
    expect(m.local).toContain('src/app/index.ts');
    const all = [...graph.values()];
    expect(all.some((n) => n.external.includes('hono'))).toBe(true);
  });
});

describe('src/ import graph', () => {
  it('has no import cycles', () => {
    const cycles = findCycles(new Map([...graph].map(([f, n]) => [f, n.local])));
    expect(cycles, `import cycles:\n${cycles.map((c) => `  ${c.join(' <-> ')}`).join('\n')}`).toEqual([]);
  });

  it('keeps Node out of the Worker bundle (everything src/index.ts reaches)', () => {
    const bad: string[] = [];
    for (const [file, chain] of reachable(graph, 'src/index.ts')) {
      if (isNodeOnly(file)) bad.push(`${chain.join(' -> ')} (Node-only module)`);
      for (const spec of graph.get(file)?.external ?? []) if (isNodeBuiltin(spec)) bad.push(`${chain.join(' -> ')} imports ${spec}`);
    }
    expect(bad).toEqual([]);
  });

  it('keeps Node out of every Worker module, reached from the entry or not', () => {
    const bad: string[] = [];
    for (const [file, node] of graph) {
      if (isNodeOnly(file)) continue;
      for (const dep of node.local) if (isNodeOnly(dep)) bad.push(`${file} imports ${dep}`);
      for (const spec of node.external) if (isNodeBuiltin(spec)) bad.push(`${file} imports ${spec}`);
    }
    expect(bad).toEqual([]);
  });
});

describe('parent files', () => {
  const parents = [...graph.keys()].filter((f) => /^src\/[^/]+\.ts$/.test(f) && fs.existsSync(path.join(ROOT, f.replace(/\.ts$/, ''))));

  it('exist for the concept folders', () => {
    expect(parents).toEqual(expect.arrayContaining(['src/balancing.ts', 'src/health.ts', 'src/routing.ts', 'src/table.ts']));
  });

  it.each(parents)('%s declares types only (implementations live in its folder)', (file) => {
    const source = ts.createSourceFile(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest);
    const runtime = source.statements.filter((s) => !isTypeOnly(s)).map((s) => s.getText(source).split('\n')[0]);
    expect(runtime, `${file} has runtime statements`).toEqual([]);
  });
});

function isTypeOnly(s: ts.Statement): boolean {
  if (ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s)) return true;
  if (ts.isImportDeclaration(s)) return !!s.importClause?.isTypeOnly;
  if (ts.isExportDeclaration(s)) return s.isTypeOnly;
  return false;
}
