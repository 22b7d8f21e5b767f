import { describe, expect, it } from 'vitest';
import { T0 } from '../../test/fixtures/monitor/generate.ts';
import { toReceived } from '../../test/helpers/monitor-replay.ts';
import type { DecisionEventReceived } from '../../proto/load-events.ts';
import { canonicalAddress, validateBatch, validateEvent } from './event.ts';

const REPORTER = 'spiffe://cluster.local/ns/shop/sa/orders';
const good = toReceived({
  timeUnixMs: T0,
  peerId: 'spiffe://cluster.local/ns/shop/sa/web',
  userSubject: 'alice',
  userIssuer: 'https://login.shop.example',
  tokenId: 'jti-1',
  method: 'GET',
  path: '/orders/{id}',
  decision: 'DENY',
  reason: 'ERR_JWT_EXPIRED',
  policy: 'shop/orders',
  rule: 'readers',
  sourceAddress: '::ffff:10.1.0.7',
  latencyMs: 1.5,
  httpStatus: 401,
  tokenFailure: 'EXPIRED',
});

describe('validateEvent', () => {
  it('keeps a good event, attributed to the reporter, empty fields left out, address canonical', () => {
    const verdict = validateEvent(good, REPORTER, T0);
    expect(verdict).toEqual({
      ok: true,
      event: {
        reporter: REPORTER,
        timeMs: T0,
        peer: 'spiffe://cluster.local/ns/shop/sa/web',
        user: 'alice',
        issuer: 'https://login.shop.example',
        tokenId: 'jti-1',
        method: 'GET',
        path: '/orders/{id}',
        decision: 'DENY',
        reason: 'ERR_JWT_EXPIRED',
        policy: 'shop/orders',
        rule: 'readers',
        source: '10.1.0.7',
        latencyMs: 1.5,
        status: 401,
        tokenFailure: 'EXPIRED',
      },
    });
    const bare = validateEvent(
      { ...good, peerId: '', userSubject: '', tokenId: '', tokenFailure: 0 },
      REPORTER,
      T0,
    );
    expect(bare.ok && Object.keys(bare.event)).not.toContain('peer');
  });

  const bad: [string, Partial<DecisionEventReceived>][] = [
    ['timeUnixMs', { timeUnixMs: T0 - 11 * 60_000 }],
    ['timeUnixMs', { timeUnixMs: T0 + 2 * 60_000 }],
    ['decision', { decision: 0 }],
    ['decision', { decision: 7 as never }],
    ['tokenFailure', { tokenFailure: 42 as never }],
    ['latencyMs', { latencyMs: Number.NaN }],
    ['latencyMs', { latencyMs: -1 }],
    ['httpStatus', { httpStatus: 1000 }],
    ['peer', { peerId: 'spiffe://cluster.local/ns/../sa/x' }],
    ['peer', { peerId: `spiffe://cluster.local/${'a'.repeat(2100)}` }],
    ['user', { userSubject: 'alice\nINFO forged log line' }],
    ['user', { userSubject: 'u'.repeat(257) }],
    ['tokenId', { tokenId: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' }],
    ['tokenId', { tokenId: 'has space' }],
    ['method', { method: 'get' }],
    ['method', { method: '' }],
    ['path', { path: '' }],
    ['reason', { reason: 'not a code' }],
    ['source', { sourceAddress: 'example.com' }],
    ['rule', { rule: 'r'.repeat(254) }],
  ];
  it.each(bad)('drops an event with a bad %s (%j)', (field, change) => {
    expect(validateEvent({ ...good, ...change }, REPORTER, T0)).toEqual({ ok: false, field });
  });
});

describe('validateBatch', () => {
  it('drops malformed events one by one and keeps the rest, counting by field', () => {
    const verdict = validateBatch(
      [
        good,
        { ...good, method: 'bad method' },
        good,
        { ...good, sourceAddress: 'x' },
        { ...good, method: 'x' },
      ],
      REPORTER,
      T0,
    );
    expect(verdict.events).toHaveLength(2);
    expect(verdict.rejectedCount).toBe(3);
    expect(Object.fromEntries(verdict.rejected)).toEqual({ method: 2, source: 1 });
  });

  it('counts an event that is not even an object instead of throwing', () => {
    const verdict = validateBatch([null as never, good], REPORTER, T0);
    expect(verdict.events).toHaveLength(1);
    expect(Object.fromEntries(verdict.rejected)).toEqual({ event: 1 });
  });

  it('drops a batch over the limit whole', () => {
    const verdict = validateBatch(Array(501).fill(good), REPORTER, T0);
    expect(verdict.events).toEqual([]);
    expect(verdict.rejectedCount).toBe(501);
    expect(Object.fromEntries(verdict.rejected)).toEqual({ batch: 501 });
  });
});

describe('canonicalAddress', () => {
  it.each([
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.256', undefined],
    ['', undefined],
  ])('%s -> %s', (input, expected) => {
    expect(canonicalAddress(input)).toBe(expected);
  });
});
