/** worker-configuration.d.ts (the generated Env) must match wrangler.toml: regenerate with `npm run types`. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const WRANGLER = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
/** The flags of `npm run types` (package.json): runtime types come from @cloudflare/workers-types; no local .dev.vars. */
const FLAGS = ['--include-runtime=false', '--strict-vars=false', '--env-file', '.dev.vars.example'];

/** Exit status and output of `wrangler types --check` against `config`. */
function check(config: string): { ok: boolean; output: string } {
  try {
    const out = execFileSync(process.execPath, [WRANGLER, 'types', '-c', config, ...FLAGS, '--check'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: 'pipe',
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
    });
    return { ok: true, output: out };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

// Ignored by .gitignore (*.tmp.*); wrangler resolves `main` next to the config, so it lives in the repository root.
const DRIFTED = path.join(ROOT, 'wrangler.env-types.tmp.toml');
afterAll(() => fs.rmSync(DRIFTED, { force: true }));

it('worker-configuration.d.ts is up to date with wrangler.toml (run `npm run types` if this fails)', () => {
  const r = check('wrangler.toml');
  expect(r.ok, r.output).toBe(true);
});

it('the check fails when wrangler.toml gains a binding the generated file lacks', () => {
  fs.writeFileSync(
    DRIFTED,
    `${fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')}\n[[kv_namespaces]]\nbinding = "DRIFT"\nid = "1"\n`,
  );
  const r = check(path.basename(DRIFTED));
  expect(r.ok).toBe(false);
  expect(r.output).toMatch(/out of date/);
});
