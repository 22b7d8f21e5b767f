// Login anomalies from Lanyard's identity provider (idp/notify.ts posts them): strict validation
// of one security notice, and the detection that a credential-stuffing or impossible-travel
// notice becomes. Pure: no HTTP, no clock of its own (idp-notice-route.ts is the adapter).
import { isIP } from 'node:net';
import type { Detection } from './detectors.ts';

export const IDP_NOTICE_KINDS = [
  'credential_stuffing',
  'impossible_travel',
  'new_device',
  'new_country',
] as const;
export type IdpNoticeKind = (typeof IDP_NOTICE_KINDS)[number];

/** A validated notice. `at` is milliseconds since the epoch. */
export interface IdpNotice {
  kind: IdpNoticeKind;
  at: number;
  username: string | null;
  userId: string | null;
  source: string;
  country: string | null;
  actions: string[];
  detail: Record<string, number | string>;
}

export type NoticeCheck = { ok: true; notice: IdpNotice } | { ok: false; field: string; problem: string };

/** What the IdP sends as `type` (optional here, but if present it must be this). */
export const IDP_NOTICE_TYPE = 'lanyard.idp.security_notice';
/** How old a notice may be (the IdP retries with backoff) and how far ahead (clock skew). */
export const NOTICE_MAX_AGE_MS = 10 * 60_000;
export const NOTICE_MAX_AHEAD_MS = 60_000;

const FIELDS = new Set([
  'type',
  'kind',
  'at',
  'username',
  'userId',
  'source',
  'country',
  'actions',
  'detail',
]);
const ACTIONS = new Set(['mfa', 'block', 'notify']);
const CONTROL = /\p{Cc}/u;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const MAX_NAME = 256;
const MAX_DETAIL_KEYS = 16;
const MAX_DETAIL_STRING = 128;

class Invalid extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function boundedString(field: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new Invalid(field, `must be a string of 1 to ${max} characters`);
  }
  if (CONTROL.test(value)) throw new Invalid(field, 'must not contain control characters');
  return value;
}

function nullableName(field: string, value: unknown): string | null {
  return value === null ? null : boundedString(field, value, MAX_NAME);
}

function checkTime(value: unknown, now: number): number {
  if (typeof value !== 'string' || !ISO_TIME.test(value)) {
    throw new Invalid('at', 'must be an ISO 8601 UTC time such as 2026-01-02T03:04:05.678Z');
  }
  const at = Date.parse(value);
  if (!Number.isFinite(at)) throw new Invalid('at', 'is not a valid time');
  if (at < now - NOTICE_MAX_AGE_MS || at > now + NOTICE_MAX_AHEAD_MS) {
    throw new Invalid('at', 'must be within the last 10 minutes (and at most 60 s ahead)');
  }
  return at;
}

function checkDetail(value: unknown): Record<string, number | string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Invalid('detail', 'must be an object');
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_DETAIL_KEYS)
    throw new Invalid('detail', `must have at most ${MAX_DETAIL_KEYS} keys`);
  const detail: Record<string, number | string> = {};
  for (const [key, item] of entries) {
    if (!DETAIL_KEY.test(key)) throw new Invalid('detail', 'keys must be short identifiers');
    if (typeof item === 'number' && Number.isFinite(item)) detail[key] = item;
    else detail[key] = boundedString(`detail.${key}`, item, MAX_DETAIL_STRING);
  }
  return detail;
}

function check(body: unknown, now: number): IdpNotice {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Invalid('notice', 'must be a JSON object');
  }
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!FIELDS.has(key)) throw new Invalid(key.slice(0, 64), 'is not a field of a security notice');
  }
  if (record.type !== undefined && record.type !== IDP_NOTICE_TYPE) {
    throw new Invalid('type', `must be ${IDP_NOTICE_TYPE}`);
  }
  const kind = record.kind;
  if (typeof kind !== 'string' || !(IDP_NOTICE_KINDS as readonly string[]).includes(kind)) {
    throw new Invalid('kind', `must be one of ${IDP_NOTICE_KINDS.join(', ')}`);
  }
  const at = checkTime(record.at, now);
  const username = nullableName('username', record.username);
  const userId = nullableName('userId', record.userId);
  if (typeof record.source !== 'string' || record.source.length > 45 || isIP(record.source) === 0) {
    throw new Invalid('source', 'must be an IPv4 or IPv6 address');
  }
  const country = record.country;
  if (country !== null && (typeof country !== 'string' || !/^[A-Z]{2}$/.test(country))) {
    throw new Invalid('country', 'must be an ISO 3166 two-letter code or null');
  }
  const actions = record.actions;
  if (
    !Array.isArray(actions) ||
    actions.length > ACTIONS.size ||
    actions.some((action) => typeof action !== 'string' || !ACTIONS.has(action))
  ) {
    throw new Invalid('actions', `must be a list of ${[...ACTIONS].join(', ')}`);
  }
  if (kind !== 'credential_stuffing' && userId === null) {
    throw new Invalid('userId', `is required for ${kind}`);
  }
  return {
    kind: kind as IdpNoticeKind,
    at,
    username,
    userId,
    source: record.source,
    country,
    actions: [...new Set(actions as string[])],
    detail: checkDetail(record.detail),
  };
}

/** Checks a parsed notice body; `now` bounds its time. Never throws. */
export function validateIdpNotice(body: unknown, now: number): NoticeCheck {
  try {
    return { ok: true, notice: check(body, now) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, field: error.field, problem: error.problem };
    throw error;
  }
}

/**
 * The detection a notice becomes: credential stuffing names the source address (reported
 * only, as sidecars do not block addresses); impossible travel names the user by the IdP's
 * user id, which is its tokens' `sub`, so an automatic block refuses that user's tokens.
 * New-device and new-country notices are counted only: undefined.
 */
export function idpNoticeDetection(notice: IdpNotice): Detection | undefined {
  const context = {
    ...notice.detail,
    ...(notice.username !== null && { username: notice.username }),
    ...(notice.country !== null && { country: notice.country }),
    actions: notice.actions,
  };
  const base = {
    windowMs: 0,
    threshold: 1,
    count: 1,
    firstMs: notice.at,
    lastMs: notice.at,
    detail: context,
  };
  if (notice.kind === 'credential_stuffing') {
    return { kind: 'idp-credential-stuffing', subject: { type: 'source', value: notice.source }, ...base };
  }
  if (notice.kind === 'impossible_travel' && notice.userId !== null) {
    return {
      kind: 'idp-impossible-travel',
      subject: { type: 'user', value: notice.userId },
      ...base,
      detail: { ...context, source: notice.source },
    };
  }
  return undefined;
}
