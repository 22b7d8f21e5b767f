import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, PasswordChecker } from './password.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { SqlStore } from './store/sql-store.ts';

const OWASP_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';
const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-pw-'));
let store: SqlStore;

beforeAll(async () => {
  store = openSqliteStore(join(dir, 'idp.db'));
  await store.migrate();
  const passwordHash = await hashPassword('correct horse battery');
  for (const [id, disabled] of [
    ['u-alice', false],
    ['u-mallory', true],
  ] as const) {
    await store.createUser({
      id,
      username: id.slice(2),
      passwordHash,
      roles: [],
      groups: [],
      disabled,
      createdAt: 0,
    });
  }
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('passwords', () => {
  it('hashes with argon2id at OWASP parameters and a fresh salt each time', async () => {
    const first = await hashPassword('correct horse battery');
    expect(first.startsWith(OWASP_PREFIX)).toBe(true);
    expect(await hashPassword('correct horse battery')).not.toBe(first);
  });

  it('refuses passwords too short or too long before hashing', async () => {
    await expect(hashPassword('short')).rejects.toMatchObject({ code: 'ERR_IDP_REQUEST_INVALID' });
    await expect(hashPassword('x'.repeat(1025))).rejects.toMatchObject({ code: 'ERR_IDP_REQUEST_INVALID' });
  });

  it('accepts the right password of an enabled user', async () => {
    const result = await new PasswordChecker(store).check('alice', 'correct horse battery');
    expect(result).toMatchObject({ ok: true, user: { id: 'u-alice' } });
  });

  it('gives one answer for a wrong password, an unknown user and a disabled account; only the audit reason differs', async () => {
    const checker = new PasswordChecker(store);
    const wrong = await checker.check('alice', 'wrong password!');
    const unknown = await checker.check('nobody', 'correct horse battery');
    const disabled = await checker.check('mallory', 'correct horse battery');
    for (const result of [wrong, unknown, disabled]) expect(result.ok).toBe(false);
    expect([wrong, unknown, disabled].map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
      'wrong_password',
      'unknown_user',
      'disabled',
    ]);
  });

  it('checks unknown users against a dummy hash of the same cost (so timing does not tell them apart)', async () => {
    const dummy = await new PasswordChecker(store).dummyHash();
    expect(dummy.startsWith(OWASP_PREFIX)).toBe(true);
  });

  it('refuses malformed input without a lookup', async () => {
    const checker = new PasswordChecker(store);
    expect(await checker.check('', 'x')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(await checker.check('alice', 'x'.repeat(1025))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(await checker.check('a'.repeat(129), 'x')).toMatchObject({ ok: false, reason: 'malformed' });
  });
});
