import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import type { BlockSnapshotReceived } from '../proto/load-blocks.ts';
import { BlockSet, parseBlockSnapshot } from './block-set.ts';

const T0 = Date.UTC(2026, 10, 29, 12);
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

function message(
  blocks: { id?: string; type?: number; value?: string; expiresUnixMs?: number }[],
  over: Partial<BlockSnapshotReceived> = {},
): BlockSnapshotReceived {
  return {
    version: 'v1',
    sentUnixMs: T0,
    blocks: blocks.map((b, i) => ({
      id: `b${i}`,
      type: 1,
      value: WEB,
      expiresUnixMs: T0 + 60_000,
      ...b,
    })) as BlockSnapshotReceived['blocks'],
    ...over,
  };
}

describe('parseBlockSnapshot', () => {
  it('accepts a well-formed snapshot of each type', () => {
    const verdict = parseBlockSnapshot(
      message([{}, { type: 2, value: 'alice@example.com' }, { type: 3, value: 'sha256:0123abcd' }]),
    );
    expect(verdict).toEqual({
      ok: true,
      snapshot: {
        version: 'v1',
        sentMs: T0,
        blocks: [
          { id: 'b0', type: 'principal', value: WEB, expiresMs: T0 + 60_000 },
          { id: 'b1', type: 'user', value: 'alice@example.com', expiresMs: T0 + 60_000 },
          { id: 'b2', type: 'token', value: 'sha256:0123abcd', expiresMs: T0 + 60_000 },
        ],
      },
    });
  });

  it.each([
    ['an empty version', message([], { version: '' }), 'version'],
    ['a version with a space', message([], { version: 'v 1' }), 'version'],
    ['a negative send time', message([], { sentUnixMs: -1 }), 'sent'],
    ['an unknown type', message([{ type: 9 }]), 'type'],
    ['an unspecified type', message([{ type: 0 }]), 'type'],
    ['an id with a slash', message([{ id: 'a/b' }]), 'id'],
    ['an over-long id', message([{ id: 'a'.repeat(254) }]), 'id'],
    ['two blocks with one id', message([{ id: 'x' }, { id: 'x', type: 2, value: 'bob' }]), 'duplicate-id'],
    ['a principal that is not a SPIFFE ID', message([{ value: 'web' }]), 'value'],
    ['a SPIFFE ID spelled twice ways', message([{ value: 'spiffe://Cluster.local/ns/a/sa/b' }]), 'value'],
    ['an empty user', message([{ type: 2, value: '' }]), 'value'],
    ['a user with a control character', message([{ type: 2, value: 'ali\nce' }]), 'value'],
    ['an over-long user', message([{ type: 2, value: 'u'.repeat(257) }]), 'value'],
    [
      'a token id that is a token',
      message([{ type: 3, value: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' }]),
      'value',
    ],
    ['a token id with a space', message([{ type: 3, value: 'a b' }]), 'value'],
    ['no expiry', message([{ expiresUnixMs: 0 }]), 'expiry'],
    ['a fractional expiry', message([{ expiresUnixMs: 1.5 }]), 'expiry'],
  ] as const)('refuses %s', (_name, raw, fault) => {
    const verdict = parseBlockSnapshot(raw);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.fault).toBe(fault);
  });

  it('refuses more than 10 000 blocks', () => {
    const many = Array.from({ length: 10_001 }, (_, i) => ({ id: `b${i}`, type: 2, value: `user-${i}` }));
    expect(parseBlockSnapshot(message(many))).toMatchObject({ ok: false, fault: 'count' });
    expect(parseBlockSnapshot(message(many.slice(0, 10_000))).ok).toBe(true);
  });
});

describe('BlockSet', () => {
  const load = (set: BlockSet, raw: BlockSnapshotReceived) => {
    const verdict = parseBlockSnapshot(raw);
    if (!verdict.ok) throw new Error(verdict.fault);
    set.replace(verdict.snapshot);
  };

  it('finds a block by type and value only', () => {
    const set = new BlockSet(new FakeClock(T0));
    load(set, message([{}, { type: 2, value: 'alice' }]));
    expect(set.match('principal', WEB)?.id).toBe('b0');
    expect(set.match('user', 'alice')?.id).toBe('b1');
    // The same text under another type is another target.
    expect(set.match('user', WEB)).toBeUndefined();
    expect(set.match('token', 'alice')).toBeUndefined();
    expect(set.version).toBe('v1');
    expect(set.receivedMs).toBe(T0);
  });

  it('ends each block at its expiry by its own clock, without a new snapshot', () => {
    const clock = new FakeClock(T0);
    const set = new BlockSet(clock);
    load(set, message([{ expiresUnixMs: T0 + 1000 }, { type: 2, value: 'alice', expiresUnixMs: T0 + 5000 }]));
    expect(set.active()).toBe(2);
    clock.advance(999);
    expect(set.match('principal', WEB)).toBeDefined();
    clock.advance(1);
    expect(set.match('principal', WEB)).toBeUndefined();
    expect(set.active()).toBe(1);
    clock.advance(4000);
    expect(set.match('user', 'alice')).toBeUndefined();
    expect(set.active()).toBe(0);
  });

  it('replaces the whole set: a block missing from the next snapshot is lifted', () => {
    const set = new BlockSet(new FakeClock(T0));
    load(set, message([{}]));
    load(set, message([{ type: 2, value: 'bob' }], { version: 'v2' }));
    expect(set.match('principal', WEB)).toBeUndefined();
    expect(set.match('user', 'bob')).toBeDefined();
    expect(set.version).toBe('v2');
  });

  it('keeps the later expiry when one target is blocked twice', () => {
    const clock = new FakeClock(T0);
    const set = new BlockSet(clock);
    load(
      set,
      message([
        { id: 'late', expiresUnixMs: T0 + 9000 },
        { id: 'early', expiresUnixMs: T0 + 1000 },
      ]),
    );
    clock.advance(5000);
    expect(set.match('principal', WEB)?.id).toBe('late');
  });
});
