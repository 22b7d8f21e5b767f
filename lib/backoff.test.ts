import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('doubles its ceiling up to the maximum and resets', () => {
    const backoff = new Backoff(100, 1000, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('jitters within [0, ceiling]', () => {
    const backoff = new Backoff(100, 1000, () => 0.25);
    expect(backoff.next()).toBe(25);
    expect(backoff.next()).toBe(50);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new Backoff(0, 10)).toThrow(TypeError);
    expect(() => new Backoff(100, 10)).toThrow(TypeError);
  });
});
