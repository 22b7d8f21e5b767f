// What a decision may say about an end-user token without holding it: an id that is not the
// token, and for a refused token the kind of failure, from the validator's error code.
import { hash } from 'node:crypto';

export type TokenFailureKind =
  | 'EXPIRED'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_ISSUER'
  | 'UNKNOWN_KEY'
  | 'ALGORITHM_NOT_ALLOWED'
  | 'NOT_YET_VALID'
  | 'WRONG_AUDIENCE'
  | 'MALFORMED'
  | 'OTHER';

// The sidecar's token error codes (sidecar/errors.ts) by failure kind.
const FAILURE: Readonly<Record<string, TokenFailureKind>> = Object.freeze({
  ERR_JWT_EXPIRED: 'EXPIRED',
  ERR_JWT_SIGNATURE: 'BAD_SIGNATURE',
  ERR_JWT_ISSUER_UNKNOWN: 'UNKNOWN_ISSUER',
  ERR_JWT_KEY_NOT_FOUND: 'UNKNOWN_KEY',
  ERR_JWT_ALG_NOT_ALLOWED: 'ALGORITHM_NOT_ALLOWED',
  ERR_JWT_NOT_YET_VALID: 'NOT_YET_VALID',
  ERR_JWT_AUDIENCE: 'WRONG_AUDIENCE',
  ERR_JWT_MALFORMED: 'MALFORMED',
  ERR_JWT_TOO_LARGE: 'MALFORMED',
  ERR_JWT_HEADER_UNSUPPORTED: 'MALFORMED',
  ERR_JWT_CLAIM_INVALID: 'MALFORMED',
});

/**
 * The failure kind of a token the validator refused with `code` (OTHER for a code that is not
 * about the token itself, such as an unreachable JWKS).
 */
export function tokenFailureOf(code: string): TokenFailureKind {
  return FAILURE[code] ?? 'OTHER';
}

/** The failure kind when `reason` is a token error code, else undefined. */
export function tokenFailureOfReason(reason: string): TokenFailureKind | undefined {
  return FAILURE[reason];
}

/** 1 to 128 visible ASCII characters, and not three dot-separated parts (a token's shape). */
function usableJti(jti: string): boolean {
  if (jti.length === 0 || jti.length > 128) return false;
  let dots = 0;
  for (let i = 0; i < jti.length; i++) {
    const code = jti.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return false;
    if (code === 0x2e) dots++;
  }
  return dots !== 2;
}

/**
 * An id for a token that is not the token: its jti when usable, else `sha256:` and the first 32
 * hex digits of the SHA-256 of the compact token. Pass the jti only of a token that verified.
 */
export function tokenId(token: string, jti?: unknown): string {
  if (typeof jti === 'string' && usableJti(jti)) return jti;
  return `sha256:${hash('sha256', token, 'hex').slice(0, 32)}`;
}
