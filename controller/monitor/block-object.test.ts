import { describe, expect, it } from 'vitest';
import { blockName, blockObject, parseBlockObject } from './block-object.ts';
import type { BlockTarget } from './blocks.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const DAY = 24 * 3600_000;
const WEB: BlockTarget = { type: 'principal', value: 'spiffe://cluster.local/ns/shop/sa/web' };

describe('blockName', () => {
  it('derives one DNS-label name per target, the same on every replica', () => {
    const name = blockName(WEB);
    expect(name).toMatch(/^principal-[0-9a-f]{32}$/);
    expect(blockName({ ...WEB })).toBe(name);
    expect(name.length).toBeLessThanOrEqual(63);
  });

  it('separates types and values, and never shows the value', () => {
    const names = new Set([
      blockName({ type: 'user', value: 'alice' }),
      blockName({ type: 'token', value: 'alice' }),
      blockName({ type: 'user', value: 'alice2' }),
      blockName({ type: 'user', value: 'alic' }),
    ]);
    expect(names.size).toBe(4);
    for (const name of names) expect(name).not.toContain('alic');
  });
});

describe('parseBlockObject', () => {
  const object = (target: BlockTarget, expiresMs: number, over: Record<string, unknown> = {}) => {
    const made = blockObject(target, expiresMs, 'denial-spike', 'detector', 'lanyard-system');
    return {
      ...made,
      metadata: { ...made.metadata, creationTimestamp: new Date(NOW - 5000) as never },
      spec: { ...made.spec, ...over },
    };
  };

  it('reads an object that blockObject made back into the block', () => {
    const parsed = parseBlockObject(object(WEB, NOW + 60_000), NOW, 7 * DAY);
    expect(parsed).toEqual({
      kind: 'active',
      block: {
        id: blockName(WEB),
        type: 'principal',
        value: WEB.value,
        createdMs: NOW - 5000,
        expiresMs: NOW + 60_000,
        reason: 'denial-spike',
        by: 'detector',
      },
    });
  });

  it('reports an expired object as expired, not invalid', () => {
    expect(parseBlockObject(object(WEB, NOW), NOW, 7 * DAY)).toEqual({
      kind: 'expired',
      name: blockName(WEB),
    });
  });

  it.each<[string, unknown, RegExp]>([
    [
      'a non-canonical SPIFFE ID',
      object({ type: 'principal', value: 'spiffe://Cluster.local/ns/a/sa/b' }, NOW + 1000),
      /SPIFFE ID/,
    ],
    ['a whole JWT as token id', object({ type: 'token', value: 'aaa.bbb.ccc' }, NOW + 1000), /token id/],
    ['an unknown type', object(WEB, NOW + 1000, { type: 'source' }), /spec.type/],
    [
      'a name that is not the digest',
      { ...object(WEB, NOW + 1000), metadata: { name: 'my-block', namespace: 'lanyard-system' } },
      /name must be principal-/,
    ],
    ['an expiry beyond the TTL bound', object(WEB, NOW + 8 * DAY), /more than 168h away/],
    ['an expiry that is no time', object(WEB, NOW + 1000, { expiresAt: 'tomorrow' }), /RFC 3339/],
    ['an unknown origin', object(WEB, NOW + 1000, { by: 'mallory' }), /spec.by/],
    ['a reason with control characters', object(WEB, NOW + 1000, { reason: 'a\u001b[2J' }), /reason/],
    ['no spec', { metadata: { name: 'x' } }, /no spec/],
  ])('refuses %s with a problem to log', (_name, input, problem) => {
    const parsed = parseBlockObject(input as never, NOW, 7 * DAY);
    expect(parsed.kind).toBe('invalid');
    expect(parsed.kind === 'invalid' && parsed.problem).toMatch(problem);
  });
});
