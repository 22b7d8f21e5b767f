// gRPC's view of the sidecar's refusals: a gRPC client reads the outcome of a call from
// grpc-status, not from the HTTP status, so a refusal is an HTTP 200 "trailers-only" response
// (one HEADERS frame that ends the stream) carrying grpc-status and grpc-message.
import type { OutgoingHttpHeaders } from 'node:http2';

/** The gRPC status codes the sidecar sends (grpc/doc/statuscodes.md). */
export const GRPC_STATUS = Object.freeze({
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNKNOWN: 2,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
});

/** application/grpc, application/grpc+proto, application/grpc;charset=...: not grpc-web. */
export function isGrpc(contentType: string | undefined): boolean {
  return /^application\/grpc(?:\+[^;]*)?\s*(?:;|$)/i.test(contentType ?? '');
}

/**
 * The gRPC status for one of the sidecar's HTTP refusals. `tokenMissing`: the request carried
 * no end-user token although the workload accepts one, and no rule allowed it, so a token might
 * (UNAUTHENTICATED rather than PERMISSION_DENIED).
 */
export function grpcStatusFor(httpStatus: number, tokenMissing = false): number {
  switch (httpStatus) {
    case 400:
      return GRPC_STATUS.INVALID_ARGUMENT;
    case 401:
      return GRPC_STATUS.UNAUTHENTICATED;
    case 403:
      return tokenMissing ? GRPC_STATUS.UNAUTHENTICATED : GRPC_STATUS.PERMISSION_DENIED;
    case 429:
      return GRPC_STATUS.RESOURCE_EXHAUSTED;
    case 500:
      return GRPC_STATUS.INTERNAL;
    case 502:
    case 503:
    case 504:
      return GRPC_STATUS.UNAVAILABLE;
    default:
      return GRPC_STATUS.UNKNOWN;
  }
}

/** grpc-message is percent-encoded: everything outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * A trailers-only refusal: HTTP 200, the gRPC status and message, and the refusal's own headers
 * (a WWW-Authenticate challenge, Retry-After) as response metadata.
 */
export function grpcRefusal(
  httpStatus: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
  tokenMissing = false,
): OutgoingHttpHeaders {
  return {
    ...headers,
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': String(grpcStatusFor(httpStatus, tokenMissing)),
    'grpc-message': encodeGrpcMessage(message),
  };
}
