import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { RateLimiter } from './rate-limit.ts';

describe('RateLimiter', () => {
  it('allows a burst per caller, then refills at the rate', () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(2, () => clock.now());
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false]);
    expect(limiter.take('b')).toBe(true);
    clock.advance(500);
    expect([limiter.take('a'), limiter.take('a')]).toEqual([true, false]);
  });
});
