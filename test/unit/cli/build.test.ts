/** `edgeway build`: nothing written on error, byte-identical reruns, version bumps only on change. */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { build, parseSeed, planSeed } from '../../../src/cli/build.js';
import { compilePaths } from '../../../src/cli/compile.js';
import { KV_POINTER_KEY, Snapshot, SnapshotPointer } from '../../../src/schema/snapshot.js';

const FIX = 'test/fixtures/cli';
let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'edgeway-build-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const clock =
  (...times: string[]) =>
  () =>
    times.shift() ?? 'no more times';

describe('build', () => {
  it('writes nothing at all when any file has an error', async () => {
    const out = path.join(tmp, 'kv-seed');
    const r = await build({ routes: [`${FIX}/bad`], outDir: out });
    expect(r.plan).toBeUndefined();
    expect(r.compile.errors).toBeGreaterThan(0);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('leaves an existing seed untouched when the new routes are broken', async () => {
    const out = path.join(tmp, 'kv-seed');
    await build({ routes: [`${FIX}/good`], outDir: out, now: clock('2026-01-01T00:00:00.000Z') });
    const before = await readFile(path.join(out, 'snapshot.json'), 'utf8');
    expect((await build({ routes: [`${FIX}/bad`], outDir: out })).plan).toBeUndefined();
    expect(await readFile(path.join(out, 'snapshot.json'), 'utf8')).toBe(before);
    expect(await readdir(out)).toEqual(['snapshot.json']); // no temp files left behind
  });

  it('writes the wrangler kv bulk format: the snapshot first, then the pointer to it', async () => {
    const out = path.join(tmp, 'kv-seed');
    await build({ routes: [`${FIX}/good`], outDir: out, now: clock('2026-01-01T00:00:00.000Z') });
    const entries = JSON.parse(await readFile(path.join(out, 'snapshot.json'), 'utf8')) as { key: string; value: string }[];
    expect(entries.map((e) => e.key)).toEqual(['snapshot:v1', KV_POINTER_KEY]);
    const snapshot = Snapshot.parse(JSON.parse(entries[0]!.value));
    const pointer = SnapshotPointer.parse(JSON.parse(entries[1]!.value));
    expect(pointer).toEqual({ version: 1, key: 'snapshot:v1', updatedAt: '2026-01-01T00:00:00.000Z' });
    expect(snapshot.createdAt).toBe('2026-01-01T00:00:00.000Z');
    expect(snapshot.routes.map((r) => r.metadata.name)).toEqual(['echo']);
    expect(snapshot.backends[0]!.spec.endpoints.map((e) => e.cluster)).toEqual(['local', 'local-2', 'aws-us-east-1']);
  });

  it('is byte-identical on rerun and bumps the version only when resources change', async () => {
    const routes = path.join(tmp, 'routes');
    const out = path.join(tmp, 'kv-seed');
    await cp(`${FIX}/good`, routes, { recursive: true });
    const file = path.join(out, 'snapshot.json');
    await build({ routes: [routes], outDir: out, now: clock('2026-01-01T00:00:00.000Z') });
    const first = await readFile(file, 'utf8');
    const rerun = await build({ routes: [routes], outDir: out, now: clock('2026-02-02T00:00:00.000Z') });
    expect(rerun.plan?.changed).toBe(false);
    expect(await readFile(file, 'utf8')).toBe(first);

    // A comment-only edit does not change resources either.
    const routeFile = path.join(routes, 'route.yaml');
    await writeFile(routeFile, `# reviewed\n${await readFile(routeFile, 'utf8')}`);
    await build({ routes: [routes], outDir: out, now: clock('2026-02-03T00:00:00.000Z') });
    expect(await readFile(file, 'utf8')).toBe(first);

    await writeFile(routeFile, (await readFile(routeFile, 'utf8')).replace('echo.example.com,', 'echo2.example.com,'));
    const changed = await build({ routes: [routes], outDir: out, now: clock('2026-03-03T00:00:00.000Z') });
    expect(changed.plan?.changed).toBe(true);
    const seed = parseSeed(await readFile(file, 'utf8'));
    expect(seed?.version).toBe(2);
    expect(seed?.snapshot?.createdAt).toBe('2026-03-03T00:00:00.000Z');
    expect(seed?.snapshot?.routes[0]?.spec.hostnames).toEqual(['echo2.example.com', '*.echo.example.com']);
  });

  it('planSeed keeps version and time for equal resources and continues from a pointer whose snapshot is unreadable', async () => {
    const { resources } = await compilePaths([`${FIX}/good`]);
    const v3 = planSeed(resources, { version: 2 }, 't3');
    expect(v3.pointer).toEqual({ version: 3, key: 'snapshot:v3', updatedAt: 't3' });
    const same = planSeed(resources, { snapshot: v3.snapshot, version: 3 }, 't4');
    expect(same).toMatchObject({ changed: false, pointer: { version: 3 }, snapshot: { createdAt: 't3' } });
    const fewer = planSeed(resources.slice(1), { snapshot: v3.snapshot, version: 3 }, 't5');
    expect(fewer).toMatchObject({ changed: true, pointer: { version: 4 }, snapshot: { createdAt: 't5' } });
    expect(parseSeed('not json')).toBeUndefined();
  });

  it('the launcher runs the CLI: build exits 1 on broken routes', async () => {
    const run = promisify(execFile);
    const err = (await run(process.execPath, ['bin/edgeway.mjs', 'build', '--routes', `${FIX}/bad`, '--out', path.join(tmp, 'o')], {
      timeout: 30_000,
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain(`${FIX}/bad/routes.yaml:8:7: spec.rules[0].matchs: unknown field "matchs"`);
    expect(err.stderr).toContain('nothing written');
    await expect(readdir(path.join(tmp, 'o'))).rejects.toThrow(/ENOENT/);
  }, 30_000);
});
