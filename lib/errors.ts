/**
 * The base of Lanyard's domain errors. Callers branch on `code`, never on message text.
 * Messages are safe to show to a remote caller; detail that is not goes in `detail`, which
 * is for logs only and must never hold a secret or a token.
 *
 * Each area declares its codes in a registry (a frozen object of code → meaning, like
 * CORE_ERRORS below); docs/errors.md lists every code of every registry.
 */
export class LanyardError<Code extends string = string> extends Error {
  override name = 'LanyardError';

  constructor(
    readonly code: Code,
    message: string,
    readonly detail?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Error codes of the pure core (lib/). */
export const CORE_ERRORS = Object.freeze({
  ERR_SPIFFE_ID_INVALID: 'A SPIFFE ID or trust domain does not follow the SPIFFE specification.',
  ERR_CONFIG_INVALID: 'A configuration value is missing, malformed or out of bounds.',
});

export type CoreErrorCode = keyof typeof CORE_ERRORS;

export function isLanyardError<Code extends string>(
  value: unknown,
  code?: Code,
): value is LanyardError<Code> {
  return value instanceof LanyardError && (code === undefined || value.code === code);
}
