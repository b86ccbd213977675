/** Local secrets: `.dev.vars` and `--var` reach the dev gateway as bindings; hostile input is refused; no value is printed. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localBindings } from '../../../src/cli/dev.js';
import { describeVars, loadDevVars, MAX_DEV_VARS_BYTES, parseDevVars, parseVarFlags } from '../../../src/cli/dev-vars.js';

const SECRET = 's3cr3t-Token-value-0123456789';
const B64 = 'q83vEjRWeJA+/w==';

describe('parseDevVars (dotenv, as wrangler dev reads .dev.vars)', () => {
  it('reads names and values: comments, export, quotes, CRLF, BOM, multi-line double quotes', () => {
    const text = [
      '\uFEFF# local secrets',
      `ADMIN_TOKEN=${SECRET}`,
      '',
      `export AGENT_KEYS='{"kind-local":"k-0123456789abcdef"}'`,
      'QUOTED="a # not a comment"',
      'SPACED = padded value   # trailing comment',
      'MULTI="line one',
      'line two"',
      'AFTER=1\r',
    ].join('\n');
    const { vars, problems } = parseDevVars(text, '.dev.vars');
    expect(problems).toEqual([]);
    expect({ ...vars }).toEqual({
      ADMIN_TOKEN: SECRET,
      AGENT_KEYS: '{"kind-local":"k-0123456789abcdef"}',
      QUOTED: 'a # not a comment',
      SPACED: 'padded value',
      MULTI: 'line one\nline two',
      AFTER: '1',
    });
  });

  it('reports malformed lines by number only, never quoting what they hold', () => {
    const text = [
      'GOOD=yes', // 1
      SECRET, // 2: a value pasted without its name
      `${B64}`, // 3: base64 ends in "=", so it reads as an empty value for a strange name
      `=${SECRET}`, // 4: no name
      `bad-name=${SECRET}`, // 5
      `__proto__=${SECRET}`, // 6
      `constructor=${SECRET}`, // 7
    ].join('\n');
    const { vars, problems } = parseDevVars(text, '.dev.vars');
    expect({ ...vars }).toEqual({ GOOD: 'yes' });
    expect(problems.map((p) => p.split(':').slice(0, 2).join(':'))).toEqual([
      '.dev.vars:2',
      '.dev.vars:3',
      '.dev.vars:4',
      '.dev.vars:5',
      '.dev.vars:6',
      '.dev.vars:7',
    ]);
    for (const p of problems) {
      expect(p).not.toContain(SECRET);
      expect(p).not.toContain(B64.slice(0, 8));
    }
    // Nothing reached a prototype.
    expect(Object.getPrototypeOf(vars)).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(vars)).toEqual(['GOOD']);
  });

  it('says so when a quoted value is never closed', () => {
    const { problems } = parseDevVars(`A="${SECRET}\nB=2\n`, 'x/.dev.vars');
    expect(problems).toEqual(['x/.dev.vars: a quoted value is never closed']);
    expect(problems.join()).not.toContain(SECRET);
  });
});

describe('parseVarFlags (--var NAME:VALUE, as wrangler dev)', () => {
  it('splits at the first colon, so values may hold colons; later flags win', () => {
    const { vars, problems } = parseVarFlags(['ADMIN_TOKEN:a:b:c', 'X:', 'X:2']);
    expect(problems).toEqual([]);
    expect({ ...vars }).toEqual({ ADMIN_TOKEN: 'a:b:c', X: '2' });
  });

  it('refuses flags without a colon or with an unusable name, without echoing them', () => {
    const { vars, problems } = parseVarFlags([SECRET, `1X:${SECRET}`, `__proto__:${SECRET}`, `A-B:${SECRET}`]);
    expect(Object.keys(vars)).toEqual([]);
    expect(problems).toEqual([
      '--var #1: expected NAME:VALUE',
      '--var #2: the name is not a usable binding name (letters, digits, _)',
      '--var #3: the name is not a usable binding name (letters, digits, _)',
      '--var #4: the name is not a usable binding name (letters, digits, _)',
    ]);
  });

  it('describes names with values hidden', () => {
    expect(describeVars({ B: SECRET, A: 'x' }, '.dev.vars')).toBe('using .dev.vars: A (hidden), B (hidden)');
    expect(describeVars({}, '--var')).toBeUndefined();
  });
});

describe('loadDevVars and localBindings', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const project = async (devVars?: string | Buffer) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edgeway-devvars-'));
    dirs.push(dir);
    if (devVars !== undefined) await writeFile(path.join(dir, '.dev.vars'), devVars);
    return path.join(dir, 'wrangler.toml');
  };
  const capture = () => {
    const lines: string[] = [];
    return { lines, out: { log: (l: string) => lines.push(l), error: (l: string) => lines.push(l) } };
  };

  it('reads .dev.vars next to the wrangler config; a missing file is fine', async () => {
    expect(await loadDevVars(await project())).toEqual({ vars: {}, problems: [] });
    const loaded = await loadDevVars(await project(`ADMIN_TOKEN=${SECRET}\n`));
    expect({ ...loaded.vars }).toEqual({ ADMIN_TOKEN: SECRET });
    expect(loaded.file).toMatch(/edgeway-devvars-.*\/\.dev\.vars$/);
  });

  it('ignores an oversized file and a directory named .dev.vars', async () => {
    const big = await loadDevVars(await project(`A=${'x'.repeat(MAX_DEV_VARS_BYTES)}\n`));
    expect(big.vars).toEqual({});
    expect(big.problems[0]).toMatch(/larger than 65536 bytes; ignored$/);
    const config = await project();
    await mkdir(path.join(path.dirname(config), '.dev.vars'));
    expect((await loadDevVars(config)).problems[0]).toMatch(/not a regular file; ignored$/);
  });

  it('--var overrides .dev.vars; output names the bindings but never prints a value', async () => {
    const config = await project(`ADMIN_TOKEN=${SECRET}\nAGENT_KEYS={"a":"${SECRET}"}\n${SECRET}\n`);
    const { lines, out } = capture();
    const vars = await localBindings([`AGENT_KEYS:{"b":"${SECRET}x"}`], out, config);
    expect(vars).toEqual({ ADMIN_TOKEN: SECRET, AGENT_KEYS: `{"b":"${SECRET}x"}` });
    expect(lines.some((l) => /\.dev\.vars:3: not NAME=value; line ignored$/.test(l))).toBe(true);
    expect(lines.some((l) => l.endsWith('.dev.vars: ADMIN_TOKEN (hidden), AGENT_KEYS (hidden)'))).toBe(true);
    expect(lines).toContain('using --var: AGENT_KEYS (hidden)');
    for (const l of lines) expect(l).not.toContain(SECRET);
  });

  it('refuses to start on a malformed --var, and warns about an ADMIN_TOKEN the admin API would refuse', async () => {
    const config = await project('ADMIN_TOKEN=short\n');
    const bad = capture();
    expect(await localBindings(['NOCOLON'], bad.out, config)).toBeUndefined();
    expect(bad.lines).toContain('--var #1: expected NAME:VALUE');
    const short = capture();
    expect(await localBindings([], short.out, config)).toEqual({ ADMIN_TOKEN: 'short' });
    expect(short.lines).toContain('warning: ADMIN_TOKEN is shorter than 16 characters: the admin API will refuse every call');
    expect(short.lines.join('\n')).not.toContain('=short');
  });
});
