import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { createRateLimiter, type RateDecision } from './ratelimit.ts';

function takeN(limiter: { take(key: string): RateDecision }, key: string, n: number): RateDecision[] {
  return Array.from({ length: n }, () => limiter.take(key));
}

describe('createRateLimiter', () => {
  it('allows a burst of `requests`, then refuses with Retry-After', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 20, perMs: 60_000 }, { clock });
    const burst = takeN(limiter, 'alice', 20);
    expect(burst.every((decision) => decision.allowed)).toBe(true);
    expect(burst.at(-1)).toEqual({ allowed: true, remaining: 0 });
    expect(burst[0]).toEqual({ allowed: true, remaining: 19 });
    // One request is earned back every 3 s.
    expect(limiter.take('alice')).toEqual({ allowed: false, retryAfterSeconds: 3 });
  });

  it('earns requests back at the configured rate', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 20, perMs: 60_000 }, { clock });
    takeN(limiter, 'alice', 20);
    clock.advance(2_999);
    expect(limiter.take('alice')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1);
    expect(limiter.take('alice')).toMatchObject({ allowed: true });
    expect(limiter.take('alice')).toMatchObject({ allowed: false });
    clock.advance(60_000);
    expect(takeN(limiter, 'alice', 20).every((decision) => decision.allowed)).toBe(true);
  });

  it('refused requests do not consume capacity', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 1, perMs: 1_000 }, { clock });
    expect(limiter.take('k').allowed).toBe(true);
    takeN(limiter, 'k', 50);
    clock.advance(1_000);
    expect(limiter.take('k').allowed).toBe(true);
  });

  it('keeps keys apart', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 2, perMs: 1_000 }, { clock });
    takeN(limiter, 'spiffe://cluster.local/ns/a/sa/web', 2);
    expect(limiter.take('spiffe://cluster.local/ns/a/sa/web').allowed).toBe(false);
    expect(limiter.take('spiffe://cluster.local/ns/a/sa/api').allowed).toBe(true);
  });

  it('rounds Retry-After up to whole seconds, at least 1', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 10, perMs: 1_000 }, { clock });
    takeN(limiter, 'k', 10);
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    const slow = createRateLimiter({ requests: 1, perMs: 3_600_000 }, { clock });
    slow.take('k');
    clock.advance(1_000);
    expect(slow.take('k')).toEqual({ allowed: false, retryAfterSeconds: 3_599 });
  });

  it('drops idle keys as calls pass, so memory follows the active keys', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 5, perMs: 1_000 }, { clock });
    for (let i = 0; i < 100; i++) limiter.take(`user-${i}`);
    expect(limiter.size).toBe(100);
    clock.advance(1_000);
    for (let i = 0; i < 60; i++) limiter.take('active');
    expect(limiter.size).toBe(1);
  });

  it('with the table full of active keys, new keys share one overflow bucket: limited, never reset', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 3, perMs: 60_000 }, { clock, maxKeys: 10 });
    for (let i = 0; i < 10; i++) takeN(limiter, `victim-${i}`, 3);
    // A flood of fresh keys cannot evict the victims' counters...
    const flood = Array.from({ length: 100 }, (_, i) => limiter.take(`fresh-${i}`));
    expect(flood.filter((decision) => decision.allowed)).toHaveLength(3);
    expect(limiter.take('victim-0').allowed).toBe(false);
    // ...and memory stays bounded: the keys plus the overflow bucket.
    expect(limiter.size).toBe(11);
  });

  it('reuses the slot of an idle key when the table is full', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 1, perMs: 1_000 }, { clock, maxKeys: 2 });
    limiter.take('a');
    clock.advance(500);
    limiter.take('b');
    clock.advance(600); // a is idle, b is not
    expect(limiter.take('c')).toMatchObject({ allowed: true });
    expect(limiter.take('b').allowed).toBe(false);
  });

  it('stores very long keys as a digest: bounded memory, still distinct', () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ requests: 1, perMs: 1_000 }, { clock });
    const long = 'x'.repeat(100_000);
    expect(limiter.take(long).allowed).toBe(true);
    expect(limiter.take(long).allowed).toBe(false);
    expect(limiter.take(`${long}y`).allowed).toBe(true);
  });

  it('survives a clock that goes back: no key is locked out beyond one period', () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12));
    const limiter = createRateLimiter({ requests: 1, perMs: 1_000 }, { clock });
    limiter.take('k');
    clock.set(Date.UTC(2026, 0, 1, 11)); // an hour back
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1_000);
    expect(limiter.take('k').allowed).toBe(true);
  });

  it('refuses bad configuration at once', () => {
    for (const limit of [
      { requests: 0, perMs: 1_000 },
      { requests: 1.5, perMs: 1_000 },
      { requests: 10, perMs: 0 },
      { requests: 10, perMs: Number.NaN },
      { requests: -1, perMs: 1_000 },
    ]) {
      expect(() => createRateLimiter(limit)).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }) as Error,
      );
    }
    expect(() => createRateLimiter({ requests: 1, perMs: 1 }, { maxKeys: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }) as Error,
    );
  });
});
