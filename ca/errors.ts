import { LanyardError } from '../lib/errors.ts';

/** Error codes of the CA (ca/). Each maps to one gRPC status at the edge (ca/grpc-errors.ts). */
export const CA_ERRORS = Object.freeze({
  ERR_CA_CSR_INVALID: 'A CSR is malformed, too large, or its signature does not verify.',
  ERR_CA_KEY_WEAK: 'A key is of an unsupported type or too weak (ECDSA P-256/P-384 or RSA >= 2048 only).',
  ERR_CA_UNAUTHENTICATED: 'The caller presented no credential, or one that is invalid, expired or used.',
  ERR_CA_PERMISSION_DENIED: 'The caller is authenticated but not allowed an identity from this CA.',
  ERR_CA_RATE_LIMITED: 'The caller exceeded its signing rate limit.',
  ERR_CA_UNAVAILABLE:
    'A dependency the CA needs to decide (e.g. TokenReview) is unreachable; it fails closed.',
  ERR_CA_AUDIENCE_REQUIRED: 'A JWT-SVID request named no audience.',
  ERR_CA_REQUEST_INVALID: 'A request field is missing or out of bounds.',
  ERR_CA_ISSUED_CERT_INVALID: 'A certificate failed the check that runs before it leaves the CA.',
  ERR_CA_KEY_MATERIAL_INVALID: 'Supplied or stored CA key material is malformed or does not match.',
  ERR_CA_KEYSTORE_CONFLICT: 'The key store changed underneath an update; reload and retry.',
});

export type CaErrorCode = keyof typeof CA_ERRORS;

export class CaError extends LanyardError<CaErrorCode> {}

export function caError(code: CaErrorCode, message: string, detail?: Record<string, unknown>): CaError {
  return new CaError(code, message, detail);
}
