// Validation of decision events as they arrive from sidecars: every field bounded, every string
// free of control characters, enums by name, times near the control plane's clock. A bad event
// is dropped with a reason and counted; it never fails the rest of its batch.
import { isIP } from 'node:net';
import { parseSpiffeId } from '../../lib/spiffe.ts';
import type { DecisionEventReceived } from '../../proto/load-events.ts';

export type TokenFailureKind =
  | 'EXPIRED'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_ISSUER'
  | 'MALFORMED'
  | 'NOT_YET_VALID'
  | 'WRONG_AUDIENCE'
  | 'UNKNOWN_KEY'
  | 'ALGORITHM_NOT_ALLOWED'
  | 'OTHER';

/** Enum numbers of lanyard.events.v1.TokenFailure, in order (0 is "none"). */
const TOKEN_FAILURES: readonly (TokenFailureKind | undefined)[] = [
  undefined,
  'EXPIRED',
  'BAD_SIGNATURE',
  'UNKNOWN_ISSUER',
  'MALFORMED',
  'NOT_YET_VALID',
  'WRONG_AUDIENCE',
  'UNKNOWN_KEY',
  'ALGORITHM_NOT_ALLOWED',
  'OTHER',
];
const DECISIONS = [undefined, 'ALLOW', 'DENY'] as const;

/** A validated event, attributed to the sidecar whose authenticated stream carried it. */
export interface MonitorEvent {
  /** SPIFFE ID of the reporting sidecar, from its SVID: never from the event. */
  reporter: string;
  timeMs: number;
  peer?: string;
  user?: string;
  issuer?: string;
  tokenId?: string;
  method: string;
  path: string;
  decision: 'ALLOW' | 'DENY';
  reason: string;
  policy?: string;
  rule?: string;
  source?: string;
  latencyMs: number;
  status: number;
  tokenFailure?: TokenFailureKind;
}

export interface EventLimits {
  /** Most events in one batch; a larger batch is dropped whole. Default 500. */
  maxBatchEvents: number;
  /** How far in the past an event's time may be. Default 10 min. */
  maxAgeMs: number;
  /** How far in the future an event's time may be (clock skew). Default 60 s. */
  maxSkewMs: number;
}

export const DEFAULT_EVENT_LIMITS: Readonly<EventLimits> = Object.freeze({
  maxBatchEvents: 500,
  maxAgeMs: 10 * 60_000,
  maxSkewMs: 60_000,
});

const MAX = {
  peer: 2048,
  user: 256,
  issuer: 512,
  tokenId: 128,
  method: 32,
  path: 2048,
  reason: 64,
  policy: 507, // namespace (63) + "/" + name (253), with room
  rule: 253,
  source: 64,
} as const;

// eslint-disable-next-line no-control-regex -- control characters are exactly what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;
const METHOD = /^[A-Z][A-Z0-9_-]*$/;
const REASON = /^[A-Z][A-Z0-9_]*$/;
const TOKEN_ID = /^[\x21-\x7e]+$/;
// The shape of a compact JWS: a token id must never be the token itself.
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

export type EventVerdict = { ok: true; event: MonitorEvent } | { ok: false; field: string };

function text(
  value: string,
  field: keyof typeof MAX,
  pattern?: RegExp,
): { ok: true; value: string | undefined } | { ok: false } {
  if (value.length === 0) return { ok: true, value: undefined };
  if (value.length > MAX[field] || CONTROL.test(value)) return { ok: false };
  if (pattern && !pattern.test(value)) return { ok: false };
  return { ok: true, value };
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are one caller; keep one spelling. */
export function canonicalAddress(address: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const candidate = mapped ? mapped[1]! : address.toLowerCase();
  return isIP(candidate) ? candidate : undefined;
}

/** Validates one received event and attributes it to `reporter`. */
export function validateEvent(
  raw: DecisionEventReceived,
  reporter: string,
  now: number,
  limits: EventLimits = DEFAULT_EVENT_LIMITS,
): EventVerdict {
  const time = raw.timeUnixMs;
  if (!Number.isSafeInteger(time) || time < now - limits.maxAgeMs || time > now + limits.maxSkewMs) {
    return { ok: false, field: 'timeUnixMs' };
  }
  const decision = DECISIONS[raw.decision as number];
  if (!decision) return { ok: false, field: 'decision' };
  const tokenFailure = TOKEN_FAILURES[raw.tokenFailure as number];
  if ((raw.tokenFailure as number) !== 0 && !tokenFailure) return { ok: false, field: 'tokenFailure' };
  if (!Number.isFinite(raw.latencyMs) || raw.latencyMs < 0 || raw.latencyMs > 3_600_000) {
    return { ok: false, field: 'latencyMs' };
  }
  if (!Number.isInteger(raw.httpStatus) || raw.httpStatus > 999) return { ok: false, field: 'httpStatus' };

  const fields = {
    peer: text(raw.peerId, 'peer'),
    user: text(raw.userSubject, 'user'),
    issuer: text(raw.userIssuer, 'issuer'),
    tokenId: text(raw.tokenId, 'tokenId', TOKEN_ID),
    method: text(raw.method, 'method', METHOD),
    path: text(raw.path, 'path'),
    reason: text(raw.reason, 'reason', REASON),
    policy: text(raw.policy, 'policy'),
    rule: text(raw.rule, 'rule'),
    source: text(raw.sourceAddress, 'source'),
  };
  for (const [field, verdict] of Object.entries(fields)) if (!verdict.ok) return { ok: false, field };
  const value = (field: keyof typeof fields) => (fields[field] as { value: string | undefined }).value;

  const method = value('method');
  const path = value('path');
  const reason = value('reason');
  if (!method) return { ok: false, field: 'method' };
  if (!path) return { ok: false, field: 'path' };
  if (!reason) return { ok: false, field: 'reason' };
  const tokenId = value('tokenId');
  if (tokenId && JWS_SHAPE.test(tokenId)) return { ok: false, field: 'tokenId' };
  const peer = value('peer');
  if (peer) {
    try {
      parseSpiffeId(peer);
    } catch {
      return { ok: false, field: 'peer' };
    }
  }
  let source = value('source');
  if (source) {
    source = canonicalAddress(source);
    if (!source) return { ok: false, field: 'source' };
  }

  const event: MonitorEvent = {
    reporter,
    timeMs: time,
    method,
    path,
    decision,
    reason,
    latencyMs: raw.latencyMs,
    status: raw.httpStatus,
  };
  const optional: Partial<MonitorEvent> = {
    peer,
    user: value('user'),
    issuer: value('issuer'),
    tokenId,
    policy: value('policy'),
    rule: value('rule'),
    source,
    tokenFailure,
  };
  for (const [key, v] of Object.entries(optional)) if (v !== undefined) Object.assign(event, { [key]: v });
  return { ok: true, event };
}

export interface BatchVerdict {
  events: MonitorEvent[];
  /** Dropped events by the field that failed ('batch' when the batch was too large). */
  rejected: Map<string, number>;
  rejectedCount: number;
}

/** Validates a batch: a batch over the limit is dropped whole, otherwise event by event. */
export function validateBatch(
  raw: readonly DecisionEventReceived[],
  reporter: string,
  now: number,
  limits: EventLimits = DEFAULT_EVENT_LIMITS,
): BatchVerdict {
  const rejected = new Map<string, number>();
  if (raw.length > limits.maxBatchEvents) {
    rejected.set('batch', raw.length);
    return { events: [], rejected, rejectedCount: raw.length };
  }
  const events: MonitorEvent[] = [];
  let rejectedCount = 0;
  for (const item of raw) {
    let verdict: EventVerdict;
    try {
      verdict = validateEvent(item, reporter, now, limits);
    } catch {
      verdict = { ok: false, field: 'event' };
    }
    if (verdict.ok) events.push(verdict.event);
    else {
      rejectedCount += 1;
      rejected.set(verdict.field, (rejected.get(verdict.field) ?? 0) + 1);
    }
  }
  return { events, rejected, rejectedCount };
}
