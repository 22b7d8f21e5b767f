import { hash, verify } from '@node-rs/argon2';
import { idpError } from './errors.ts';
import type { IdpStore, UserRecord } from './store/types.ts';

/** OWASP Password Storage Cheat Sheet, argon2id: 19 MiB of memory, 2 iterations, 1 lane. */
export const OWASP_ARGON2ID = Object.freeze({
  algorithm: 2, // Argon2id (an ambient const enum cannot be read under isolatedModules)
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

export const PASSWORD_MIN_LENGTH = 8;
/** Bounds the work an attacker can ask for per attempt; longer input is refused unhashed. */
export const PASSWORD_MAX_LENGTH = 1024;

export function checkNewPassword(password: string): void {
  if (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH) {
    throw idpError(
      'ERR_IDP_REQUEST_INVALID',
      `a password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long`,
    );
  }
}

export async function hashPassword(password: string): Promise<string> {
  checkNewPassword(password);
  return hash(password, OWASP_ARGON2ID);
}

export type LoginFailure = 'unknown_user' | 'wrong_password' | 'disabled' | 'malformed';

export type PasswordCheck =
  { ok: true; user: UserRecord } | { ok: false; reason: LoginFailure; user: UserRecord | null };

/**
 * Checks a username and password. Every path, an unknown user included, costs one argon2id
 * verification (against a dummy hash made with the same parameters), so neither the answer nor
 * its timing tells an unknown user from a wrong password or a disabled account. The reason is
 * for the audit log only.
 */
export class PasswordChecker {
  private dummy: Promise<string> | undefined;

  constructor(private readonly store: IdpStore) {}

  /** The hash unknown users are checked against: the same parameters, so the same cost. */
  dummyHash(): Promise<string> {
    this.dummy ??= hash('lanyard dummy password for unknown users', OWASP_ARGON2ID);
    return this.dummy;
  }

  async check(username: string, password: string): Promise<PasswordCheck> {
    const wellFormed =
      username.length > 0 && username.length <= 128 && password.length <= PASSWORD_MAX_LENGTH;
    const user = wellFormed ? await this.store.userByName(username) : null;
    const stored = user?.passwordHash ?? (await this.dummyHash());
    const matches = await verify(stored, wellFormed ? password : '', OWASP_ARGON2ID).catch(() => false);
    if (!wellFormed) return { ok: false, reason: 'malformed', user: null };
    if (!user) return { ok: false, reason: 'unknown_user', user: null };
    if (!matches) return { ok: false, reason: 'wrong_password', user };
    if (user.disabled) return { ok: false, reason: 'disabled', user };
    return { ok: true, user };
  }
}
