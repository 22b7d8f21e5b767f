import { describe, expect, it } from 'vitest';
import { describeDetection, EVENT_REASON } from './describe.ts';
import { idpNoticeDetection, validateIdpNotice, type IdpNotice } from './idp-notices.ts';

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

// As idp/notify.ts sends it.
const travel = {
  type: 'lanyard.idp.security_notice',
  kind: 'impossible_travel',
  at: iso(NOW - 5_000),
  username: 'alice',
  userId: 'u-7f3a9c',
  source: '203.0.113.7',
  country: 'JP',
  actions: ['mfa'],
  detail: { distanceKm: 9300, minutesSinceLastLogin: 20, previousCountry: 'FR' },
};
const stuffing = {
  type: 'lanyard.idp.security_notice',
  kind: 'credential_stuffing',
  at: iso(NOW),
  username: 'bob',
  userId: null,
  source: '2001:db8::66',
  country: null,
  actions: ['block'],
  detail: { accounts: 10, windowSeconds: 600 },
};

function accepted(body: unknown): IdpNotice {
  const result = validateIdpNotice(body, NOW);
  if (!result.ok) throw new Error(`refused: ${result.field} ${result.problem}`);
  return result.notice;
}

describe('validateIdpNotice', () => {
  it('accepts the notices the identity provider sends', () => {
    expect(accepted(travel)).toEqual({
      kind: 'impossible_travel',
      at: NOW - 5_000,
      username: 'alice',
      userId: 'u-7f3a9c',
      source: '203.0.113.7',
      country: 'JP',
      actions: ['mfa'],
      detail: travel.detail,
    });
    expect(accepted(stuffing)).toMatchObject({ kind: 'credential_stuffing', userId: null, country: null });
    for (const kind of ['new_device', 'new_country']) {
      expect(accepted({ ...travel, kind, actions: [], detail: {} }).kind).toBe(kind);
    }
    expect(accepted({ ...travel, type: undefined }).kind).toBe('impossible_travel');
  });

  it.each<[string, unknown, string, RegExp]>([
    ['not an object', [travel], 'notice', /JSON object/],
    ['an unknown field', { ...travel, password: 'x' }, 'password', /not a field/],
    ['another type', { ...travel, type: 'other' }, 'type', /lanyard\.idp\.security_notice/],
    ['an unknown kind', { ...travel, kind: 'brute_force' }, 'kind', /one of credential_stuffing/],
    ['a number time', { ...travel, at: NOW }, 'at', /ISO 8601/],
    ['a local time', { ...travel, at: '2026-11-29T12:00:00+01:00' }, 'at', /ISO 8601/],
    ['an impossible date', { ...travel, at: '2026-13-45T12:00:00Z' }, 'at', /valid time|within/],
    ['an old time', { ...travel, at: iso(NOW - 10 * 60_000 - 1) }, 'at', /last 10 minutes/],
    ['a future time', { ...travel, at: iso(NOW + 61_000) }, 'at', /60 s ahead/],
    ['a long username', { ...travel, username: 'a'.repeat(257) }, 'username', /1 to 256/],
    ['an empty user id', { ...travel, userId: '' }, 'userId', /1 to 256/],
    ['a control character', { ...travel, username: 'alice\nforged line' }, 'username', /control/],
    ['a host name source', { ...travel, source: 'attacker.example' }, 'source', /IPv4 or IPv6/],
    ['a CIDR source', { ...travel, source: '203.0.113.0/24' }, 'source', /IPv4 or IPv6/],
    ['a lowercase country', { ...travel, country: 'jp' }, 'country', /two-letter/],
    ['a country name', { ...travel, country: 'Japan' }, 'country', /two-letter/],
    ['an unknown action', { ...travel, actions: ['delete-account'] }, 'actions', /mfa, block, notify/],
    ['actions not a list', { ...travel, actions: 'mfa' }, 'actions', /list/],
    ['travel without a user', { ...travel, userId: null }, 'userId', /required for impossible_travel/],
    ['detail not an object', { ...travel, detail: [1] }, 'detail', /object/],
    ['a nested detail', { ...travel, detail: { where: { lat: 1 } } }, 'detail.where', /string/],
    ['a detail key', { ...travel, detail: { 'a b': 1 } }, 'detail', /identifiers/],
    [
      'too many details',
      { ...travel, detail: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) },
      'detail',
      /at most 16/,
    ],
  ])('refuses %s, naming the field', (_what, body, field, problem) => {
    const result = validateIdpNotice(body, NOW);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.field).toBe(field);
    expect(result.problem).toMatch(problem);
  });
});

describe('idpNoticeDetection', () => {
  it('turns impossible travel into a detection of the user by the IdP user id (its tokens\u2019 sub)', () => {
    const detection = idpNoticeDetection(accepted(travel));
    expect(detection).toEqual({
      kind: 'idp-impossible-travel',
      subject: { type: 'user', value: 'u-7f3a9c' },
      windowMs: 0,
      threshold: 1,
      count: 1,
      firstMs: NOW - 5_000,
      lastMs: NOW - 5_000,
      detail: {
        distanceKm: 9300,
        minutesSinceLastLogin: 20,
        previousCountry: 'FR',
        username: 'alice',
        country: 'JP',
        actions: ['mfa'],
        source: '203.0.113.7',
      },
    });
    expect(EVENT_REASON[detection!.kind]).toBe('IdpImpossibleTravel');
    expect(describeDetection(detection!)).toBe(
      `the identity provider reported impossible travel for user "u-7f3a9c" at ${iso(NOW - 5_000)}`,
    );
  });

  it('turns credential stuffing into a detection of the source address', () => {
    const detection = idpNoticeDetection(accepted(stuffing));
    expect(detection).toMatchObject({
      kind: 'idp-credential-stuffing',
      subject: { type: 'source', value: '2001:db8::66' },
      detail: { accounts: 10, windowSeconds: 600, username: 'bob', actions: ['block'] },
    });
    expect(EVENT_REASON[detection!.kind]).toBe('IdpCredentialStuffing');
  });

  it('counts new devices and new countries only', () => {
    expect(idpNoticeDetection(accepted({ ...travel, kind: 'new_device' }))).toBeUndefined();
    expect(idpNoticeDetection(accepted({ ...travel, kind: 'new_country' }))).toBeUndefined();
  });
});
