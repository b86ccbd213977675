/**
 * wrangler environments (issue #16): wrangler.toml's production (top level) and [env.staging], read with wrangler's
 * own config reader. Every environment re-declares the bindings wrangler does not inherit and has its own KV
 * namespace and EDGEWAY_AUDIENCE; `edgeway build --env` and `edgeway dev --env` use that environment's file and vars.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../../src/admin/signing.js';
import { bulkPutCommand, seedFile } from '../../../src/cli/build.js';
import { readWranglerConfig, startDevGateway } from '../../../src/cli/dev-server.js';
import { loadDevVars } from '../../../src/cli/dev-vars.js';
import {
  environmentProblems,
  readEnvironments,
  REQUIRED_DURABLE_OBJECTS,
  REQUIRED_KV,
  resolveEnvironmentFlag,
} from '../../../src/cli/environments.js';
import { main } from '../../../src/cli/main.js';
import { KV_POINTER_KEY } from '../../../src/schema/snapshot.js';

const FIX = 'test/fixtures/cli';
let tmp: string;
let toml: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'edgeway-envs-'));
  toml = await readFile('wrangler.toml', 'utf8');
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** wrangler.toml with `edit` applied, written where wrangler can read it (main is never opened by the reader). */
async function variant(name: string, edit: (text: string) => string): Promise<string> {
  const file = path.join(tmp, `${name}.toml`);
  const edited = edit(toml);
  expect(edited, 'the edit must change wrangler.toml').not.toBe(toml);
  await writeFile(file, edited);
  return file;
}

/** Removes one `[[env.staging.<table>]]` block (up to the next blank line) naming `name`. */
const dropBlock = (table: string, name: string) => (text: string) =>
  text.replace(
    new RegExp(
      `\\[\\[env\\.staging\\.${table.replace(/\./g, '\\.')}\\]\\]\\n(?:[^\\n]+\\n)*?(?:name|binding) = "${name}"\\n(?:[^\\n]+\\n)*`,
    ),
    '',
  );

describe('wrangler.toml environments', () => {
  it('defines production and staging, each with every binding, its own KV namespace and its own audience', async () => {
    const envs = await readEnvironments();
    expect(envs.map((e) => e.name)).toEqual(['production', 'staging']);
    expect(environmentProblems(envs)).toEqual([]);
    for (const e of envs) {
      for (const binding of REQUIRED_KV)
        expect(
          e.kvNamespaces.map((k) => k.binding),
          e.name,
        ).toContain(binding);
      for (const [name, className] of Object.entries(REQUIRED_DURABLE_OBJECTS))
        expect(e.durableObjects, e.name).toContainEqual(expect.objectContaining({ name, class_name: className }));
    }
    const routesId = (i: number) => envs[i]!.kvNamespaces.find((k) => k.binding === 'ROUTES')?.id;
    expect(routesId(0)).toBeTruthy();
    expect(routesId(1)).toBeTruthy();
    expect(routesId(1)).not.toBe(routesId(0));
    const [production, staging] = envs;
    expect(staging!.workerName).toBe('edgeway-staging');
    expect(production!.workerName).toBe('edgeway');
    expect(staging!.vars.EDGEWAY_AUDIENCE).toBe('edgeway-staging');
    expect(production!.vars.EDGEWAY_AUDIENCE).not.toBe(staging!.vars.EDGEWAY_AUDIENCE);
    // Every Durable Object production binds, staging binds too (also ones added after this test was written).
    expect(staging!.durableObjects.map((d) => d.name).sort()).toEqual(production!.durableObjects.map((d) => d.name).sort());
  });

  it.each([
    ['a Durable Object binding', dropBlock('durable_objects.bindings', 'HEALTH'), /\[env\.staging\]: no durable_objects binding HEALTH/],
    ['the ROUTES namespace', dropBlock('kv_namespaces', 'ROUTES'), /\[env\.staging\]: no kv_namespaces binding ROUTES/],
  ])('fails when staging does not re-declare %s', async (_label, edit, problem) => {
    const envs = await readEnvironments(await variant('missing', edit));
    expect(environmentProblems(envs)).toEqual([expect.stringMatching(problem)]);
  });

  it("fails when staging shares production's KV namespace or audience", async () => {
    const sameKv = await variant('same-kv', (t) =>
      t.replace('id = "00000000000000000000000000000001"', 'id = "00000000000000000000000000000000"'),
    );
    expect(environmentProblems(await readEnvironments(sameKv))).toEqual([
      '[env.staging]: same ROUTES KV namespace id as production (top level)',
    ]);
    const noAudience = await variant('no-audience', (t) => t.replace(/^EDGEWAY_AUDIENCE = "edgeway-staging"\n/m, ''));
    expect(environmentProblems(await readEnvironments(noAudience))).toEqual([
      '[env.staging]: same EDGEWAY_AUDIENCE (unset counts as one value) as production (top level)',
    ]);
  });

  it('fails when a Durable Object binding names another class', async () => {
    const swapped = await variant('swapped', (t) =>
      t.replace(/(\[\[env\.staging\.durable_objects\.bindings\]\]\nname = "HEALTH"\nclass_name = )"HealthCheckerDO"/, '$1"RateLimiterDO"'),
    );
    expect(environmentProblems(await readEnvironments(swapped))).toEqual([
      '[env.staging]: HEALTH binds class RateLimiterDO, expected HealthCheckerDO',
    ]);
  });
});

describe('--env', () => {
  it('accepts production (the top level) and the environments wrangler.toml defines, nothing else', async () => {
    expect(await resolveEnvironmentFlag(undefined)).toBeUndefined();
    expect(await resolveEnvironmentFlag('production')).toBeUndefined();
    expect(await resolveEnvironmentFlag('staging')).toBe('staging');
    await expect(resolveEnvironmentFlag('stagging')).rejects.toThrow(
      'wrangler.toml has no [env.stagging] (environments: production, staging)',
    );
    await expect(resolveEnvironmentFlag('../staging')).rejects.toThrow('not an environment name');
  });

  it('edgeway build --env staging writes kv-seed/staging/snapshot.json and prints the staging load command', async () => {
    const out = path.join(tmp, 'kv-seed');
    const lines: string[] = [];
    const sink = { log: (l: string) => lines.push(l), error: (l: string) => lines.push(`E ${l}`) };
    expect(await main(['build', '--routes', `${FIX}/good`, '--out', out, '--env', 'staging'], sink)).toBe(0);
    const file = seedFile(out, 'staging');
    expect(file).toBe(path.join(out, 'staging', 'snapshot.json'));
    const entries = JSON.parse(await readFile(file, 'utf8')) as { key: string }[];
    expect(entries.map((e) => e.key)).toContain(KV_POINTER_KEY);
    expect(lines).toContain(`load it with: npx wrangler kv bulk put ${file} --binding ROUTES --env staging --local   (or --remote)`);
    // Production's seed is another file: each environment's versions move on their own.
    await expect(readFile(seedFile(out), 'utf8')).rejects.toThrow();
    expect(bulkPutCommand(seedFile(out))).toBe(`npx wrangler kv bulk put ${seedFile(out)} --binding ROUTES`);
    expect(await main(['build', '--routes', `${FIX}/good`, '--out', out, '--env', 'nope'], sink)).toBe(1);
    expect(lines.at(-1)).toMatch(/^E edgeway build: --env nope: wrangler.toml has no \[env.nope\]/);
  });

  it("edgeway dev --env staging runs with staging's [vars] (its audience), production without", async () => {
    expect((await readWranglerConfig('wrangler.toml', 'staging')).vars.EDGEWAY_AUDIENCE).toBe('edgeway-staging');
    expect((await readWranglerConfig('wrangler.toml')).vars.EDGEWAY_AUDIENCE).toBeUndefined();
    const staging = await readWranglerConfig('wrangler.toml', 'staging');
    expect(Object.keys(staging.durableObjects)).toEqual(expect.arrayContaining(Object.keys(REQUIRED_DURABLE_OBJECTS)));
    expect(staging.kvNamespaces).toContain('ROUTES');
  });

  it("the dev gateway with env staging takes staging's audience: only staging-tagged agent signatures pass", async () => {
    const key = 'dev-key-kind-staging-0123456789';
    const gw = await startDevGateway({
      resources: [],
      port: 0,
      env: 'staging',
      bindings: { ADMIN_TOKEN: 'dev-admin-token-0123456789abcdef', AGENT_KEYS: JSON.stringify({ 'kind-staging': key }) },
    });
    try {
      const url = `${gw.url.replace(/\/$/, '')}/_edgeway/v1/agent/heartbeat`;
      const heartbeat = async (tag?: string) => {
        const body = JSON.stringify({ cluster: 'kind-staging' });
        const headers = await signRequest({ secret: key, keyid: 'kind-staging', method: 'POST', url, body, now: Date.now(), tag });
        return (await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body })).status;
      };
      expect(await heartbeat()).toBe(401); // signed as for production
      expect(await heartbeat('edgeway-staging')).toBe(200);
    } finally {
      await gw.dispose();
    }
  });

  it('reads .dev.vars.<env> instead of .dev.vars when it exists, as wrangler dev --env does', async () => {
    const dir = await mkdtemp(path.join(tmp, 'devvars-'));
    const config = path.join(dir, 'wrangler.toml');
    await writeFile(path.join(dir, '.dev.vars'), 'ADMIN_TOKEN=production-token-0123456789\nONLY_PROD=1\n');
    expect({ ...(await loadDevVars(config, 'staging')).vars }).toEqual({ ADMIN_TOKEN: 'production-token-0123456789', ONLY_PROD: '1' });
    await writeFile(path.join(dir, '.dev.vars.staging'), 'ADMIN_TOKEN=staging-token-0123456789ab\n');
    const staging = await loadDevVars(config, 'staging');
    expect(staging.file).toBe(path.join(dir, '.dev.vars.staging'));
    expect({ ...staging.vars }).toEqual({ ADMIN_TOKEN: 'staging-token-0123456789ab' }); // not merged with .dev.vars
    expect({ ...(await loadDevVars(config)).vars }).toEqual({ ADMIN_TOKEN: 'production-token-0123456789', ONLY_PROD: '1' });
  });
});
