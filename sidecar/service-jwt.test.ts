import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { createServiceTokenCache, type MintedServiceToken } from './service-jwt.ts';

const LIFETIME = 5 * 60_000;

/** A mint that the test settles by hand, counting calls per audience. */
function manualMint(clock: FakeClock) {
  const calls: { audience: string; settle: (ok: boolean) => void }[] = [];
  let serial = 0;
  const mint = (audience: string) =>
    new Promise<MintedServiceToken>((resolve, reject) => {
      calls.push({
        audience,
        settle: (ok) =>
          ok
            ? resolve({ token: `token-${audience}-${++serial}`, expiresAt: clock.now() + LIFETIME })
            : reject(new Error('CA unavailable')),
      });
    });
  return { mint, calls };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('createServiceTokenCache', () => {
  it('mints once for concurrent requests of one audience (single flight), then serves from cache', async () => {
    const clock = new FakeClock();
    const { mint, calls } = manualMint(clock);
    const cache = createServiceTokenCache({ mint, clock });
    const waiting = Promise.all([cache.get('api'), cache.get('api'), cache.get('api')]);
    expect(calls).toHaveLength(1);
    calls[0]!.settle(true);
    expect(await waiting).toEqual(['token-api-1', 'token-api-1', 'token-api-1']);
    clock.advance(60_000);
    expect(await cache.get('api')).toBe('token-api-1');
    expect(calls).toHaveLength(1);
  });

  it('keeps one token per audience', async () => {
    const clock = new FakeClock();
    const { mint, calls } = manualMint(clock);
    const cache = createServiceTokenCache({ mint, clock });
    const a = cache.get('a');
    const b = cache.get('b');
    calls.forEach((call) => call.settle(true));
    expect([await a, await b]).toEqual(['token-a-1', 'token-b-2']);
    expect(calls.map((call) => call.audience)).toEqual(['a', 'b']);
  });

  it('refreshes ahead of expiry in the background while the current token keeps serving', async () => {
    const clock = new FakeClock();
    const { mint, calls } = manualMint(clock);
    const cache = createServiceTokenCache({ mint, clock, refreshAheadMs: 60_000 });
    const first = cache.get('api');
    calls[0]!.settle(true);
    await first;
    clock.advance(LIFETIME - 59_000);
    // Inside the refresh window: the old token answers at once, one refresh starts.
    expect(await cache.get('api')).toBe('token-api-1');
    expect(await cache.get('api')).toBe('token-api-1');
    expect(calls).toHaveLength(2);
    calls[1]!.settle(true);
    await flush();
    expect(await cache.get('api')).toBe('token-api-2');
  });

  it('never hands out a token about to expire, and waits for a new one instead', async () => {
    const clock = new FakeClock();
    const { mint, calls } = manualMint(clock);
    const cache = createServiceTokenCache({ mint, clock, minRemainingMs: 10_000 });
    const first = cache.get('api');
    calls[0]!.settle(true);
    await first;
    clock.advance(LIFETIME - 5_000);
    const next = cache.get('api');
    expect(calls).toHaveLength(2);
    calls[1]!.settle(true);
    expect(await next).toBe('token-api-2');
  });

  it('keeps serving the current token when a refresh fails, and fails closed once it is too old', async () => {
    const clock = new FakeClock();
    const { mint, calls } = manualMint(clock);
    const outcomes: string[] = [];
    const cache = createServiceTokenCache({
      mint,
      clock,
      retryAfterFailureMs: 2_000,
      onMint: (outcome) => outcomes.push(outcome),
    });
    const first = cache.get('api');
    calls[0]!.settle(true);
    await first;
    clock.advance(LIFETIME - 30_000);
    expect(await cache.get('api')).toBe('token-api-1');
    calls[1]!.settle(false);
    await flush();
    expect(await cache.get('api')).toBe('token-api-1');
    expect(calls).toHaveLength(2); // no new attempt within retryAfterFailureMs
    clock.advance(25_000);
    // 5 s left, under minRemainingMs: a fresh mint, and its failure reaches the caller.
    const failing = cache.get('api');
    calls[2]!.settle(false);
    await expect(failing).rejects.toThrow('CA unavailable');
    // Within retryAfterFailureMs no mint is tried: callers fail at once.
    await expect(cache.get('api')).rejects.toThrow(/last mint failed/);
    expect(calls).toHaveLength(3);
    expect(outcomes).toEqual(['ok', 'error', 'error']);
  });

  it('refuses a minted token that is empty or already about to expire', async () => {
    const clock = new FakeClock();
    const bad = [
      { token: '', expiresAt: clock.now() + LIFETIME },
      { token: 'x', expiresAt: clock.now() + 1_000 },
    ];
    const cache = createServiceTokenCache({
      mint: () => Promise.resolve(bad.shift()!),
      clock,
      retryAfterFailureMs: 0,
    });
    await expect(cache.get('api')).rejects.toThrow(/no token/);
    await expect(cache.get('api')).rejects.toThrow(/expires too soon/);
  });

  it('bounds the audiences it keeps, dropping the least recently used', async () => {
    const clock = new FakeClock();
    let mints = 0;
    const cache = createServiceTokenCache({
      mint: (audience) =>
        Promise.resolve({ token: `${audience}-${++mints}`, expiresAt: clock.now() + LIFETIME }),
      clock,
      maxAudiences: 2,
    });
    await cache.get('a');
    await cache.get('b');
    await cache.get('a');
    await cache.get('c'); // drops b, the least recently used
    expect(await cache.get('a')).toBe('a-1');
    expect(await cache.get('b')).toBe('b-4');
  });

  it('checks its options and the audience', async () => {
    const clock = new FakeClock();
    const mint = () => Promise.reject(new Error('unused'));
    expect(() => createServiceTokenCache({ mint, clock, refreshAheadMs: -1 })).toThrow(TypeError);
    expect(() => createServiceTokenCache({ mint, clock, maxAudiences: 0 })).toThrow(TypeError);
    await expect(createServiceTokenCache({ mint, clock }).get('')).rejects.toThrow(TypeError);
  });
});
