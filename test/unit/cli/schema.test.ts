/** The committed editor schema, example routes and kv seed must match what the code generates from them. */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSeed, planSeed } from '../../../src/cli/build.js';
import { compilePaths, formatDiagnostic } from '../../../src/cli/compile.js';
import { generateJsonSchema, renderJsonSchema, SCHEMA_FILE, syncJsonSchema } from '../../../src/cli/json-schema.js';

describe('editor JSON Schema', () => {
  it('schema/edgeway.schema.json is what src/schema.ts generates (run `npm run schema` after schema changes)', async () => {
    expect(await readFile(SCHEMA_FILE, 'utf8')).toBe(await renderJsonSchema());
  });

  it('covers the five kinds and rejects unknown top-level fields for editors too', () => {
    const schema = generateJsonSchema() as {
      $id: string;
      oneOf: { properties: { kind: { const: string } }; additionalProperties?: boolean }[];
    };
    expect(schema.$id).toMatch(/edgeway\.schema\.json$/);
    expect(schema.oneOf.map((o) => o.properties.kind.const)).toEqual([
      'HTTPRoute',
      'Backend',
      'RateLimitPolicy',
      'SecurityPolicy',
      'Rollout',
    ]);
    expect(schema.oneOf.every((o) => o.additionalProperties === false)).toBe(true);
  });

  it('--check reports a stale file without touching it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edgeway-schema-'));
    try {
      const file = path.join(dir, 'edgeway.schema.json');
      await writeFile(file, '{}\n');
      expect(await syncJsonSchema(file, true)).toEqual({ upToDate: false, written: false });
      expect(await readFile(file, 'utf8')).toBe('{}\n');
      expect(await syncJsonSchema(file, false)).toEqual({ upToDate: false, written: true });
      expect(await syncJsonSchema(file, true)).toEqual({ upToDate: true, written: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('example routes/', () => {
  it('validate cleanly and point editors at the schema', async () => {
    const r = await compilePaths(['routes']);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.resources.length).toBeGreaterThanOrEqual(4);
    for (const f of await readdir('routes'))
      expect((await readFile(path.join('routes', f), 'utf8')).split('\n')[0]).toBe(
        '# yaml-language-server: $schema=../schema/edgeway.schema.json',
      );
  });

  it('kv-seed/snapshot.json is current (run `npm run edgeway -- build` after editing routes/)', async () => {
    const { resources } = await compilePaths(['routes']);
    const seed = parseSeed(await readFile('kv-seed/snapshot.json', 'utf8'));
    expect(seed?.snapshot).toBeDefined();
    expect(planSeed(resources, seed, 'now').changed).toBe(false);
  });
});
