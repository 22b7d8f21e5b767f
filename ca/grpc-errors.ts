import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { isLanyardError } from '../lib/errors.ts';
import type { CaErrorCode } from './errors.ts';

const STATUS: Readonly<Record<CaErrorCode, { code: status; message: string }>> = {
  ERR_CA_CSR_INVALID: { code: status.INVALID_ARGUMENT, message: 'invalid CSR' },
  ERR_CA_KEY_WEAK: { code: status.INVALID_ARGUMENT, message: 'unsupported or weak key' },
  ERR_CA_REQUEST_INVALID: { code: status.INVALID_ARGUMENT, message: 'invalid request' },
  ERR_CA_AUDIENCE_REQUIRED: { code: status.INVALID_ARGUMENT, message: 'audience required' },
  ERR_CA_UNAUTHENTICATED: { code: status.UNAUTHENTICATED, message: 'credential not accepted' },
  ERR_CA_PERMISSION_DENIED: { code: status.PERMISSION_DENIED, message: 'identity not allowed' },
  ERR_CA_RATE_LIMITED: { code: status.RESOURCE_EXHAUSTED, message: 'rate limit exceeded' },
  ERR_CA_UNAVAILABLE: { code: status.UNAVAILABLE, message: 'CA temporarily unavailable' },
  ERR_CA_ISSUED_CERT_INVALID: { code: status.INTERNAL, message: 'internal error' },
  ERR_CA_KEY_MATERIAL_INVALID: { code: status.INTERNAL, message: 'internal error' },
  ERR_CA_KEYSTORE_CONFLICT: { code: status.UNAVAILABLE, message: 'CA temporarily unavailable' },
};

/** The error code a failure is counted under: a CA code, or "internal" for anything else. */
export function reasonOf(error: unknown): string {
  return isLanyardError(error) && error.code in STATUS ? error.code : 'internal';
}

/**
 * A domain error as a gRPC error with a short safe message; the code for the client to branch
 * on travels in the "lanyard-error-code" trailer. Unknown errors become INTERNAL, never details.
 */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const reason = reasonOf(error);
  const mapped = STATUS[reason as CaErrorCode] ?? { code: status.INTERNAL, message: 'internal error' };
  const metadata = new Metadata();
  metadata.set('lanyard-error-code', reason);
  return { code: mapped.code, details: mapped.message, metadata };
}
