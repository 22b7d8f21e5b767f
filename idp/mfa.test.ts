import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { MfaService } from './mfa.ts';
import { createSecretBox } from './secret-box.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { SqlStore } from './store/sql-store.ts';
import { base32Decode, hotp, totpStep } from './totp.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-mfa-'));
let store: SqlStore;
let counter = 0;
const clock = new FakeClock(Date.UTC(2026, 5, 1, 12, 0, 10));

beforeAll(async () => {
  store = openSqliteStore(join(dir, 'idp.db'));
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function enrolledUser(): Promise<{
  mfa: MfaService;
  userId: string;
  secret: string;
  recovery: string[];
}> {
  const userId = `u${++counter}`;
  const user = {
    id: userId,
    username: `user${counter}`,
    passwordHash: 'x',
    roles: [],
    groups: [],
    disabled: false,
    createdAt: 0,
  };
  await store.createUser(user);
  const mfa = new MfaService(store, createSecretBox(randomBytes(32)), clock, 'Lanyard Test');
  const enrolment = await mfa.beginEnrolment(user);
  const recovery = await mfa.confirmEnrolment(userId, codeAt(enrolment.secret, clock.now()));
  clock.advance(30_000);
  return { mfa, userId, secret: enrolment.secret, recovery };
}

const codeAt = (secret: string, ms: number): string => hotp(base32Decode(secret), totpStep(ms));

describe('MFA service', () => {
  it('enrols with a QR code, stores the secret sealed, and confirms with a first code', async () => {
    const user = {
      id: 'u-enrol',
      username: 'enrol',
      passwordHash: 'x',
      roles: [],
      groups: [],
      disabled: false,
      createdAt: 0,
    };
    await store.createUser(user);
    const mfa = new MfaService(store, createSecretBox(randomBytes(32)), clock, 'Lanyard Test');
    const enrolment = await mfa.beginEnrolment(user);
    expect(enrolment.qrSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(enrolment.uri).toContain(`secret=${enrolment.secret}`);
    const stored = await store.totpOf(user.id);
    expect(stored?.secretCiphertext).not.toContain(enrolment.secret);
    expect(await mfa.enrolled(user.id)).toBe(false);
    await expect(mfa.verify(user.id, codeAt(enrolment.secret, clock.now()))).rejects.toMatchObject({
      code: 'ERR_IDP_MFA_FAILED',
    });
    await expect(mfa.confirmEnrolment(user.id, '000000')).rejects.toMatchObject({
      code: 'ERR_IDP_MFA_FAILED',
    });
    const recovery = await mfa.confirmEnrolment(user.id, codeAt(enrolment.secret, clock.now()));
    expect(recovery).toHaveLength(10);
    expect(new Set(recovery).size).toBe(10);
    expect(await mfa.enrolled(user.id)).toBe(true);
  });

  it('accepts a current code once: the same code again in the same step is refused', async () => {
    const { mfa, userId, secret } = await enrolledUser();
    const code = codeAt(secret, clock.now());
    expect(await mfa.verify(userId, code)).toBe('otp');
    await expect(mfa.verify(userId, code)).rejects.toMatchObject({ code: 'ERR_IDP_MFA_FAILED' });
  });

  it('refuses an expired code', async () => {
    const { mfa, userId, secret } = await enrolledUser();
    const old = codeAt(secret, clock.now());
    clock.advance(90_000);
    await expect(mfa.verify(userId, old)).rejects.toMatchObject({ code: 'ERR_IDP_MFA_FAILED' });
  });

  it('refuses a code older than the last one accepted', async () => {
    const { mfa, userId, secret } = await enrolledUser();
    const earlier = codeAt(secret, clock.now() - 30_000);
    expect(await mfa.verify(userId, codeAt(secret, clock.now()))).toBe('otp');
    await expect(mfa.verify(userId, earlier)).rejects.toMatchObject({ code: 'ERR_IDP_MFA_FAILED' });
  });

  it('accepts each recovery code once, in any case and with or without dashes', async () => {
    const { mfa, userId, recovery } = await enrolledUser();
    expect(await mfa.verify(userId, recovery[0]!.toUpperCase().replaceAll('-', ''))).toBe('recovery');
    await expect(mfa.verify(userId, recovery[0]!)).rejects.toMatchObject({ code: 'ERR_IDP_MFA_FAILED' });
    expect(await mfa.verify(userId, recovery[1]!)).toBe('recovery');
    expect(await store.recoveryCodesLeft(userId)).toBe(8);
  });

  it('refuses everything after an MFA reset', async () => {
    const { mfa, userId, secret, recovery } = await enrolledUser();
    await store.resetMfa(userId);
    await expect(mfa.verify(userId, codeAt(secret, clock.now()))).rejects.toMatchObject({
      code: 'ERR_IDP_MFA_FAILED',
    });
    await expect(mfa.verify(userId, recovery[2]!)).rejects.toMatchObject({ code: 'ERR_IDP_MFA_FAILED' });
  });
});
