import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { ACCOUNT_POLICY, LoginThrottle } from './throttle.ts';

describe('login throttle', () => {
  it('slows brute force with growing delays, then blocks for a short while', () => {
    const clock = new FakeClock();
    const throttle = new LoginThrottle(clock, ACCOUNT_POLICY);
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      throttle.fail('alice');
      delays.push(throttle.decide('alice').delayMs);
    }
    expect(delays).toEqual([0, 0, 250, 500, 1000, 2000, 4000, 4000, 4000]);
    throttle.fail('alice');
    const blocked = throttle.decide('alice');
    expect(blocked.blockedUntil).toBe(clock.now() + 5 * 60_000);
    clock.advance(5 * 60_000 + 1);
    expect(throttle.decide('alice')).toEqual({ blockedUntil: null, delayMs: 0 });
  });

  it('forgets failures after the window and on success, and keeps keys apart', () => {
    const clock = new FakeClock();
    const throttle = new LoginThrottle(clock, ACCOUNT_POLICY);
    for (let i = 0; i < 5; i++) throttle.fail('alice');
    expect(throttle.decide('bob').delayMs).toBe(0);
    expect(throttle.decide('alice').delayMs).toBeGreaterThan(0);
    throttle.succeed('alice');
    expect(throttle.decide('alice').delayMs).toBe(0);
    for (let i = 0; i < 5; i++) throttle.fail('alice');
    clock.advance(15 * 60_000 + 1);
    expect(throttle.decide('alice').delayMs).toBe(0);
  });

  it('holds at most maxKeys keys, dropping the oldest', () => {
    const clock = new FakeClock();
    const throttle = new LoginThrottle(clock, { ...ACCOUNT_POLICY, freeFailures: 0 }, 2);
    throttle.fail('a');
    throttle.fail('b');
    throttle.fail('c');
    expect(throttle.decide('a').delayMs).toBe(0);
    expect(throttle.decide('c').delayMs).toBeGreaterThan(0);
  });
});
