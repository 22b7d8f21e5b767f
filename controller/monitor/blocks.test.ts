import { describe, expect, it } from 'vitest';
import { isLanyardError } from '../../lib/errors.ts';
import { BlockList, type Block, type BlockTarget } from './blocks.ts';

function clock(start = 1_000_000) {
  const state = { now: start };
  return { state, clock: { now: () => state.now } };
}

function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (isLanyardError(error)) return error.code;
    throw error;
  }
  return undefined;
}

const WEB: BlockTarget = { type: 'principal', value: 'spiffe://cluster.local/ns/shop/sa/web' };

describe('BlockList', () => {
  it('adds, lists, expires and lifts blocks, notifying on every change', () => {
    const { state, clock: c } = clock();
    const list = new BlockList({ clock: c });
    let changes = 0;
    list.onChange(() => (changes += 1));
    const a = list.add(WEB, 60_000, 'denial-spike', 'detector');
    const b = list.add({ type: 'user', value: 'mallory' }, 10_000, 'operator note', 'operator');
    expect(list.list().map((x) => x.id)).toEqual([b.id, a.id]);
    expect(list.nextExpiry()).toBe(state.now + 10_000);
    state.now += 10_000;
    expect(list.list().map((x) => x.id)).toEqual([a.id]);
    expect(list.lift(a.id)).toMatchObject({ type: 'principal', value: WEB.value, by: 'detector' });
    expect(list.list()).toEqual([]);
    expect(changes).toBe(4);
  });

  it('keeps one block per target, extended to the later expiry', () => {
    const { state, clock: c } = clock();
    const list = new BlockList({ clock: c });
    const first = list.add({ type: 'token', value: 'jti-1' }, 60_000, 'token-spread', 'detector');
    state.now += 1000;
    const again = list.add({ type: 'token', value: 'jti-1' }, 120_000, 'token-countries', 'detector');
    expect(again.id).toBe(first.id);
    expect(again.expiresMs).toBe(state.now + 120_000);
    expect(list.add({ type: 'token', value: 'jti-1' }, 1000, 'x', 'operator').expiresMs).toBe(
      state.now + 120_000,
    );
    expect(list.list()).toHaveLength(1);
  });

  it.each<[BlockTarget, number]>([
    [{ type: 'principal', value: 'spiffe://cluster.local/ns/../sa/x' }, 60_000],
    [{ type: 'principal', value: 'not-spiffe' }, 60_000],
    [{ type: 'user', value: '' }, 60_000],
    [{ type: 'user', value: 'a\nb' }, 60_000],
    [{ type: 'token', value: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' }, 60_000],
    [{ type: 'token', value: 't'.repeat(129) }, 60_000],
    [{ type: 'source' as never, value: '10.0.0.1' }, 60_000],
    [WEB, 999],
    [WEB, 8 * 24 * 3600_000],
    [WEB, 1.5e3 + 0.5],
  ])('refuses %j for %d ms with ERR_MONITOR_BLOCK_INVALID, leaving nothing behind', (target, ttl) => {
    const list = new BlockList({ clock: clock().clock });
    expect(code(() => list.add(target, ttl, 'r', 'operator'))).toBe('ERR_MONITOR_BLOCK_INVALID');
    expect(list.list()).toEqual([]);
  });

  it('refuses a block beyond maxBlocks and an unknown id', () => {
    const list = new BlockList({ clock: clock().clock, maxBlocks: 2 });
    list.add({ type: 'user', value: 'a' }, 60_000, 'r', 'operator');
    list.add({ type: 'user', value: 'b' }, 60_000, 'r', 'operator');
    expect(code(() => list.add({ type: 'user', value: 'c' }, 60_000, 'r', 'operator'))).toBe(
      'ERR_MONITOR_BLOCK_LIMIT',
    );
    expect(code(() => list.lift('nope'))).toBe('ERR_MONITOR_BLOCK_NOT_FOUND');
    expect(list.list()).toHaveLength(2);
  });

  it('snapshots as JSON whose version changes with the active blocks only', () => {
    const { state, clock: c } = clock();
    const list = new BlockList({ clock: c });
    const empty = list.snapshot();
    list.add({ type: 'user', value: 'a' }, 5_000, 'r', 'operator');
    const one = list.snapshot();
    expect(one.version).not.toBe(empty.version);
    expect(list.snapshot()).toEqual(one);
    expect(JSON.parse(JSON.stringify(one))).toEqual(one);
    state.now += 5_000;
    expect(list.snapshot()).toEqual(empty);
  });

  describe('mirroring (upsert, remove, get by id)', () => {
    const mirrored = (now: number, over: Partial<Block> = {}): Block => ({
      id: 'principal-0123456789abcdef',
      type: 'principal',
      value: WEB.value,
      createdMs: now - 1000,
      expiresMs: now + 60_000,
      reason: 'denial-spike',
      by: 'detector',
      ...over,
    });

    it('sets a block with its own id, replaces it by id, and removes it quietly', () => {
      const { state, clock: c } = clock();
      const list = new BlockList({ clock: c });
      let changes = 0;
      list.onChange(() => (changes += 1));
      const block = mirrored(state.now);
      expect(list.upsert(block)).toBe(true);
      expect(list.get(block.id)).toEqual(block);
      expect(list.upsert(block)).toBe(true);
      expect(changes).toBe(1);
      // The object is the truth: a shorter expiry from it is taken as it is.
      expect(list.upsert({ ...block, expiresMs: state.now + 5000 })).toBe(true);
      expect(list.get(block.id)?.expiresMs).toBe(state.now + 5000);
      expect(list.snapshot().blocks.map((b) => b.id)).toEqual([block.id]);
      expect(list.remove(block.id)).toBe(true);
      expect(list.remove(block.id)).toBe(false);
      expect(list.list()).toEqual([]);
      expect(changes).toBe(3);
    });

    it('treats an expired block as a removal of its id', () => {
      const { state, clock: c } = clock();
      const list = new BlockList({ clock: c });
      list.upsert(mirrored(state.now));
      expect(list.upsert(mirrored(state.now, { expiresMs: state.now }))).toBe(false);
      expect(list.list()).toEqual([]);
    });

    it('drops a mirrored block at its expiry like any other', () => {
      const { state, clock: c } = clock();
      const list = new BlockList({ clock: c });
      list.upsert(mirrored(state.now));
      state.now += 60_000;
      expect(list.get('principal-0123456789abcdef')).toBeUndefined();
      expect(list.list()).toEqual([]);
    });

    it.each<[string, Partial<Block>]>([
      ['an id that is no object name', { id: 'Not An Id' }],
      ['a bad target', { value: 'spiffe://cluster.local/ns/a/../b' }],
      ['a whole JWT as token id', { type: 'token', value: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' }],
      ['a control character in the reason', { reason: 'a\u0007' }],
      ['an unknown origin', { by: 'mallory' as never }],
      ['an expiry past the TTL bound', { expiresMs: 1_000_000 + 8 * 24 * 3600_000 }],
      ['a fractional expiry', { expiresMs: 1_060_000.5 }],
    ])('refuses %s with ERR_MONITOR_BLOCK_INVALID, changing nothing', (_name, over) => {
      const { state, clock: c } = clock();
      const list = new BlockList({ clock: c });
      expect(code(() => list.upsert(mirrored(state.now, over)))).toBe('ERR_MONITOR_BLOCK_INVALID');
      expect(list.list()).toEqual([]);
    });

    it('refuses a new id past maxBlocks but still replaces a known one', () => {
      const { state, clock: c } = clock();
      const list = new BlockList({ clock: c, maxBlocks: 1 });
      list.upsert(mirrored(state.now));
      expect(code(() => list.upsert(mirrored(state.now, { id: 'user-1', type: 'user', value: 'u' })))).toBe(
        'ERR_MONITOR_BLOCK_LIMIT',
      );
      expect(list.upsert(mirrored(state.now, { expiresMs: state.now + 90_000 }))).toBe(true);
      expect(list.list().map((b) => b.expiresMs)).toEqual([state.now + 90_000]);
    });
  });
});
