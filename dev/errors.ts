import { LanyardError } from '../lib/errors.ts';

/** Error codes of `lanyard dev` (dev/): the scripted sign-in against the built-in IdP. */
export const DEV_ERRORS = Object.freeze({
  ERR_DEV_LOGIN_REFUSED:
    'The identity provider refused a demo sign-in: wrong password, unknown user, or too many attempts.',
  ERR_DEV_MFA_REFUSED: "The identity provider refused a demo user's one-time code.",
  ERR_DEV_LOGIN_FLOW:
    'A step of the scripted sign-in got an answer a browser would not go on from (status, form, redirect, state, nonce or ID token).',
  ERR_DEV_TOKEN_REFUSED: 'The token endpoint refused an authorization code or refresh token.',
});

export type DevErrorCode = keyof typeof DEV_ERRORS;

export class DevError extends LanyardError<DevErrorCode> {}

export function devError(code: DevErrorCode, message: string, detail?: Record<string, unknown>): DevError {
  return new DevError(code, message, detail);
}
