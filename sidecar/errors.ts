import { LanyardError } from '../lib/errors.ts';

/**
 * Error codes of the sidecar's security building blocks. Every code maps to a 401 at the edge
 * (a token that is not valid is never "anonymous"); the message is safe to return to the
 * caller, the `detail` is for logs and never holds a token.
 */
export const SIDECAR_ERRORS = Object.freeze({
  ERR_JWT_MALFORMED:
    'The token is not a well-formed compact JWS: segment count, base64url, JSON (duplicate names, claim count, depth) or kid.',
  ERR_JWT_TOO_LARGE: 'The token is longer than the configured limit.',
  ERR_JWT_ALG_NOT_ALLOWED:
    'The token algorithm is not allowed: "none", HMAC, unknown, not enabled for the issuer, or not matching the key.',
  ERR_JWT_HEADER_UNSUPPORTED: 'The token header uses a feature that is not understood (crit, b64, zip).',
  ERR_JWT_ISSUER_UNKNOWN: 'The token has no issuer or one that no policy configures.',
  ERR_JWT_KEY_NOT_FOUND: 'The token names no key, or one that the issuer JWKS does not hold.',
  ERR_JWT_SIGNATURE: 'The token signature does not verify.',
  ERR_JWT_CLAIM_INVALID: 'A registered claim (exp, nbf, iat, sub) is missing or has the wrong type.',
  ERR_JWT_EXPIRED: 'The token has expired.',
  ERR_JWT_NOT_YET_VALID: 'The token is not valid yet (nbf or iat in the future).',
  ERR_JWT_AUDIENCE: 'The token has no audience that the issuer configuration accepts.',
  ERR_JWKS_UNAVAILABLE: 'The issuer JWKS could not be fetched and no usable cached keys exist.',
  ERR_JWKS_FETCH_FAILED:
    'A JWKS fetch failed: connection, timeout, HTTP status, size limit or a response that is not a JWKS.',
});

export type SidecarErrorCode = keyof typeof SIDECAR_ERRORS;

/** Builds the sidecar error `code` with its registry message and log-only `detail`. */
export function sidecarError(
  code: SidecarErrorCode,
  detail?: Record<string, unknown>,
  cause?: unknown,
): LanyardError<SidecarErrorCode> {
  return new LanyardError<SidecarErrorCode>(
    code,
    SIDECAR_ERRORS[code],
    detail,
    cause === undefined ? undefined : { cause },
  );
}
