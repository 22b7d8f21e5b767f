import { LanyardError } from '../../lib/errors.ts';

/**
 * Error codes of authentication monitoring (controller/monitor/). The event codes are counted
 * per reason and returned to the reporting sidecar only as counts in its Ack; the block codes
 * reach an operator's CLI.
 */
export const MONITOR_ERRORS = Object.freeze({
  ERR_MONITOR_EVENT_INVALID:
    'A decision event is malformed or out of bounds (field length, characters, time, enum); it is dropped and counted, the rest of its batch is kept.',
  ERR_MONITOR_BATCH_TOO_LARGE:
    'An event batch holds more events than allowed; all its events are dropped and counted.',
  ERR_MONITOR_UNAUTHENTICATED:
    'The event or block stream caller presented no valid workload SVID; the stream is refused.',
  ERR_MONITOR_OVERLOADED:
    'An event queue (per stream or global) was full; valid events were dropped and counted rather than delaying other work.',
  ERR_MONITOR_BLOCK_INVALID:
    'A block names no valid principal, user subject or token id, or its TTL is out of bounds.',
  ERR_MONITOR_BLOCK_LIMIT: 'The block list holds as many active blocks as allowed; the new block is refused.',
  ERR_MONITOR_BLOCK_NOT_FOUND: 'No active block has that id.',
  ERR_MONITOR_WEBHOOK_FAILED:
    'A detection webhook notification failed after its retries (timeout, connection or non-2xx answer); it is dropped and counted.',
  ERR_MONITOR_IDP_UNAUTHENTICATED:
    'An identity-provider notice came without the configured bearer token, or with another; it is refused (401) and counted.',
  ERR_MONITOR_IDP_NOTICE_INVALID:
    'An identity-provider notice is malformed or out of bounds (field, kind, characters, address, country, time); it is refused (400) and counted.',
  ERR_MONITOR_IDP_RATE_LIMITED:
    'Identity-provider notices arrived faster than the receiver takes them; the notice is refused (429, the IdP retries) and counted.',
});

export type MonitorErrorCode = keyof typeof MONITOR_ERRORS;

export function monitorError(
  code: MonitorErrorCode,
  detail?: Record<string, unknown>,
): LanyardError<MonitorErrorCode> {
  return new LanyardError<MonitorErrorCode>(code, MONITOR_ERRORS[code], detail);
}
