/**
 * The base of Lanyard's domain errors. Callers branch on `code`, never on message text.
 * Messages are safe to show to a remote caller; detail that is not goes in `detail`, which
 * is for logs only and must never hold a secret or a token.
 */
export class LanyardError extends Error {
  override name = 'LanyardError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Every error code Lanyard raises, with what it means. docs/errors.md must list each one. */
export const ERROR_CODES = {
  ERR_SPIFFE_ID_INVALID: 'A SPIFFE ID or trust domain does not follow the SPIFFE specification.',
  ERR_CONFIG_INVALID: 'A configuration value is missing, malformed or out of bounds.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isLanyardError(value: unknown, code?: ErrorCode): value is LanyardError {
  return value instanceof LanyardError && (code === undefined || value.code === code);
}
