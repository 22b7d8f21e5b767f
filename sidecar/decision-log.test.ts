import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DecisionRecord } from './app-forwarder.ts';
import { decisionLogJson } from './decision-log.ts';
import { DENY_RECORD } from '../test/helpers/decision-records.ts';

const deny = DENY_RECORD;

const fields = (record: DecisionRecord) =>
  JSON.parse(`{${decisionLogJson(record)}}`) as Record<string, unknown>;

/** The line's fields as a plain object would give them: the oracle of the hand-built JSON. */
function expected(record: DecisionRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    decision: record.decision,
    status: record.status,
    reason: record.reason,
    policy: record.policy ?? null,
    rule: record.rule ?? null,
  };
  if (record.dryRun) out.dryRun = { ...record.dryRun };
  Object.assign(out, {
    peer: record.peer ?? null,
    user: record.user ?? null,
    method: record.method,
    path: record.path,
    latencyMs: Math.round(record.latencyMs * 1000) / 1000,
  });
  if (record.source !== undefined) out.source = record.source;
  if (record.tokenId !== undefined) out.tokenId = record.tokenId;
  if (record.block) out.block = { ...record.block };
  // Through JSON, as a logger writes it: undefined members of nested objects go away.
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

describe('decisionLogJson', () => {
  it('names the policy and rule of a deny', () => {
    expect(fields(deny)).toMatchObject({
      decision: 'DENY',
      policy: 'shop/no-admin',
      rule: 'outsiders',
      reason: 'DENY_RULE',
      latencyMs: 1.235,
    });
  });

  it('says null, with the reason, when no rule decided', () => {
    const line = fields({
      ...deny,
      reason: 'ERR_JWT_SIGNATURE',
      status: 401,
      policy: undefined,
      rule: undefined,
    });
    expect(line).toMatchObject({ policy: null, rule: null, reason: 'ERR_JWT_SIGNATURE' });
  });

  it('copies only the fields it names, so nothing else a record may carry reaches the log', () => {
    const sneaky = {
      ...deny,
      authorization: 'Bearer secret.token.value',
      headers: [['x', 'y']],
      dryRun: { decision: 'ALLOW', policy: 'p', rule: 'r', token: 'secret.token.value' },
      block: { id: 'b', type: 'principal', token: 'secret.token.value' },
    } as DecisionRecord;
    expect(decisionLogJson(sneaky)).not.toContain('secret.token.value');
    expect(Object.keys(fields(sneaky)).sort()).toEqual(
      [
        'block',
        'decision',
        'dryRun',
        'latencyMs',
        'method',
        'path',
        'peer',
        'policy',
        'reason',
        'rule',
        'status',
        'user',
      ].sort(),
    );
  });

  it('is the JSON of the same fields, in the same order, for any record (quotes, controls, lone surrogates)', () => {
    const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
    const anyText = fc.string({ unit: 'binary', maxLength: 40 });
    const record: fc.Arbitrary<DecisionRecord> = fc.record({
      peer: optional(anyText),
      user: optional(anyText),
      method: anyText,
      path: anyText,
      status: fc.integer({ min: 100, max: 599 }),
      decision: fc.constantFrom('ALLOW' as const, 'DENY' as const),
      reason: anyText,
      policy: optional(anyText),
      rule: optional(anyText),
      dryRun: optional(fc.record({ decision: anyText, policy: optional(anyText), rule: optional(anyText) })),
      latencyMs: fc.oneof(fc.double({ min: 0, max: 1e7, noNaN: true }), fc.constant(Number.NaN)),
      source: optional(anyText),
      tokenId: optional(anyText),
      block: optional(
        fc.record({
          id: anyText,
          type: fc.constantFrom('principal' as const, 'user' as const, 'token' as const),
        }),
      ),
    });
    fc.assert(
      fc.property(record, (value) => {
        const line = fields(value);
        expect(line).toEqual(expected(value));
        expect(Object.keys(line)).toEqual(Object.keys(expected(value)));
      }),
      { numRuns: 500 },
    );
  });
});
