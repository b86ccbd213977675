/** The one operator check (admin API and /_edgeway/health): bearer token of 16+ characters, nothing else counts. */
import { expect, it } from 'vitest';
import { checkOperator } from '../../../src/admin/auth.js';

const TOKEN = 'operator-token-0123456789';
const req = (headers: Record<string, string>) => new Request('http://127.0.0.1/_edgeway/health', { headers });

it('accepts exactly the configured bearer token', async () => {
  expect(await checkOperator(req({ authorization: `Bearer ${TOKEN}` }), { ADMIN_TOKEN: TOKEN })).toEqual({ ok: true });
  expect(await checkOperator(req({ authorization: `bearer   ${TOKEN} ` }), { ADMIN_TOKEN: TOKEN })).toEqual({ ok: true });
  for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, ''])
    expect((await checkOperator(req({ authorization }), { ADMIN_TOKEN: TOKEN })).ok, authorization).toBe(false);
});

it('refuses everyone while the token is unset or shorter than 16 characters, whatever the client claims to be', async () => {
  for (const ADMIN_TOKEN of [undefined, '', 'short', '0123456789abcde'])
    expect(
      await checkOperator(req({ authorization: `Bearer ${ADMIN_TOKEN ?? ''}`, 'cf-connecting-ip': '127.0.0.1' }), { ADMIN_TOKEN }),
    ).toEqual({ ok: false, reason: 'admin token not configured' });
  expect((await checkOperator(req({ authorization: 'Bearer 0123456789abcdef' }), { ADMIN_TOKEN: '0123456789abcdef' })).ok).toBe(true);
});
