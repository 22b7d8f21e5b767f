import { createHash, randomBytes } from 'node:crypto';
import { base32Encode } from './totp.ts';

export const RECOVERY_CODE_COUNT = 10;

/** 80 random bits each, shown once as xxxx-xxxx-xxxx-xxxx; only SHA-256 hashes are stored. */
export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () =>
    base32Encode(randomBytes(10)).toLowerCase().match(/.{4}/g)!.join('-'),
  );
}

/** Case, spaces and dashes do not matter when a user types a code back. */
export function hashRecoveryCode(code: string): string {
  const normalized = code.toLowerCase().replace(/[\s-]/g, '');
  return createHash('sha256').update(`lanyard-recovery:${normalized}`).digest('hex');
}

export function looksLikeRecoveryCode(code: string): boolean {
  return /^[a-z2-7]{16}$/.test(code.toLowerCase().replace(/[\s-]/g, ''));
}
