import { LanyardError } from '../lib/errors.ts';

/** Error codes of the identity provider (idp/). The HTTP edge maps each to an OAuth error. */
export const IDP_ERRORS = Object.freeze({
  ERR_IDP_LOGIN_FAILED:
    'The username, password or account state did not allow a login; the answer does not say which.',
  ERR_IDP_MFA_FAILED: 'A one-time or recovery code is wrong, expired, or was already used.',
  ERR_IDP_RATE_LIMITED: 'Too many login attempts for this account or source; wait and retry.',
  ERR_IDP_REQUEST_INVALID: 'An authorization, token or admin request is malformed or out of bounds.',
  ERR_IDP_CLIENT_INVALID:
    'The client is unknown, its credentials are wrong, or the redirect URI is not registered.',
  ERR_IDP_GRANT_INVALID:
    'An authorization code or refresh token is unknown, expired, revoked, reused, or fails its PKCE check.',
  ERR_IDP_CSRF: 'A form was posted without the CSRF token of its login session.',
  ERR_IDP_STORE: 'The identity store refused an operation (e.g. a duplicate username or client ID).',
  ERR_IDP_KEY_INVALID: 'A secret-encryption key or stored ciphertext is malformed or does not decrypt.',
  ERR_IDP_WORKLOAD_AUTH_FAILED:
    'A token-exchange caller proved no workload identity: no or untrusted client certificate, or a JWT-SVID assertion that is invalid, expired, replayed or for another audience.',
  ERR_IDP_EXCHANGE_UNAUTHORIZED: 'The authenticated workload is on no token-exchange allow-list entry.',
  ERR_IDP_TARGET_INVALID:
    'A token exchange named no audience, several, or one the allow list does not grant to the workload.',
  ERR_IDP_ADMIN_UNAUTHORIZED: 'An admin API request carried no admin token or a wrong one.',
  ERR_IDP_NOT_FOUND: 'An admin operation named a user that does not exist.',
});

export type IdpErrorCode = keyof typeof IDP_ERRORS;

export class IdpError extends LanyardError<IdpErrorCode> {}

export function idpError(code: IdpErrorCode, message: string, detail?: Record<string, unknown>): IdpError {
  return new IdpError(code, message, detail);
}
