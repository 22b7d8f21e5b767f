/** Error codes of request-path normalization (lib/path.ts). */
export const PATH_ERRORS = Object.freeze({
  ERR_PATH_INVALID:
    'A request path is malformed or ambiguous (bad percent-encoding, escaped slash, null byte, too long) and is refused rather than guessed at.',
});

export type PathErrorCode = keyof typeof PATH_ERRORS;
