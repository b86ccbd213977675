/** Agent configuration: the key id and audience the agent signs with, including hostile values. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/agent/config.js';

const KEY = 'config-test-key-0123456789abcdef';
const base = { EDGEWAY_CLUSTER: 'aws-use1', EDGEWAY_EDGE_URL: 'https://api.example.com/', EDGEWAY_AGENT_KEY: KEY };

function problems(env: Record<string, string | undefined>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('configuration was accepted');
}

describe('EDGEWAY_AGENT_KEY_ID', () => {
  it('is optional: unset or empty means keyid "<cluster>"', () => {
    expect(loadConfig(base).keyId).toBeUndefined();
    expect(loadConfig({ ...base, EDGEWAY_AGENT_KEY_ID: '' }).keyId).toBeUndefined();
  });

  it.each(['k1', 'k2', 'default', '2025-06', 'a.b_c-d', '0', 'x'.repeat(64)])('accepts the key id %s', (id) => {
    expect(loadConfig({ ...base, EDGEWAY_AGENT_KEY_ID: id }).keyId).toBe(id);
  });

  it.each([
    ['uppercase (AGENT_KEYS ids are lowercase)', 'K2'],
    ['a slash (would forge another keyid path)', 'k1/k2'],
    ['the cluster prefix', 'aws-use1/k2'],
    ['a quote (would break out of the signature parameter)', 'k2";tag="x'],
    ['leading punctuation', '-k2'],
    ['trailing punctuation', 'k2.'],
    ['spaces', ' k2'],
    ['a newline', 'k2\nx'],
    ['non-ASCII', 'kë'],
    ['NUL', 'k\u00002'],
    ['65 characters', 'x'.repeat(65)],
    ['a megabyte', 'k'.repeat(1 << 20)],
  ])('refuses %s', (_what, id) => {
    const msg = problems({ EDGEWAY_AGENT_KEY_ID: id });
    expect(msg).toContain('EDGEWAY_AGENT_KEY_ID');
    expect(msg.length).toBeLessThan(1000); // the value is not echoed
    expect(msg).not.toContain(KEY);
  });
});

describe('EDGEWAY_AUDIENCE', () => {
  it('is optional: unset or empty means none (as on the edge, where an empty EDGEWAY_AUDIENCE is none)', () => {
    expect(loadConfig(base).audience).toBeUndefined();
    expect(loadConfig({ ...base, EDGEWAY_AUDIENCE: '' }).audience).toBeUndefined();
  });

  it.each(['prod-eu', 'prod eu', 'https://api.example.com/prod', 'a', 'x'.repeat(128), 'quote"and\\backslash'])(
    'accepts the audience %s',
    (aud) => {
      expect(loadConfig({ ...base, EDGEWAY_AUDIENCE: aud }).audience).toBe(aud);
    },
  );

  it.each([
    ['129 characters', 'x'.repeat(129)],
    ['a megabyte', 'a'.repeat(1 << 20)],
    ['a leading space (the edge compares exactly)', ' prod-eu'],
    ['a trailing newline (a copied Secret)', 'prod-eu\n'],
    ['a CR/LF (header injection)', 'prod\r\nx-evil: 1'],
    ['a tab', 'prod\teu'],
    ['non-ASCII', 'prød'],
    ['NUL', 'prod\u0000'],
    ['only spaces', '   '],
  ])('refuses %s', (_what, aud) => {
    const msg = problems({ EDGEWAY_AUDIENCE: aud });
    expect(msg).toContain('EDGEWAY_AUDIENCE');
    expect(msg.length).toBeLessThan(1000);
  });

  it('reports a bad key id and a bad audience together, with the other problems', () => {
    const msg = problems({ EDGEWAY_AGENT_KEY_ID: 'K/1', EDGEWAY_AUDIENCE: 'y'.repeat(10_000), EDGEWAY_AGENT_KEY: 'short' });
    for (const v of ['EDGEWAY_AGENT_KEY_ID', 'EDGEWAY_AUDIENCE', 'EDGEWAY_AGENT_KEY:']) expect(msg).toContain(v);
    expect(msg).not.toContain('short');
    expect(msg).not.toContain('yyyy');
  });

  it('reaches the configuration next to the cluster, key and URL', () => {
    const c = loadConfig({ ...base, EDGEWAY_AGENT_KEY_ID: 'k2', EDGEWAY_AUDIENCE: 'prod-eu' });
    expect(c).toMatchObject({ cluster: 'aws-use1', edgeUrl: 'https://api.example.com', key: KEY, keyId: 'k2', audience: 'prod-eu' });
  });
});
