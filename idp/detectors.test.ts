import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { ExpiringSet } from './expiring-set.ts';
import { StuffingDetector } from './stuffing.ts';
import { greatCircleKm, impossibleTravel } from './travel.ts';

const LONDON = { latitude: 51.5074, longitude: -0.1278 };
const PARIS = { latitude: 48.8566, longitude: 2.3522 };
const NEW_YORK = { latitude: 40.7128, longitude: -74.006 };
const TOKYO = { latitude: 35.6762, longitude: 139.6503 };
const POLICY = { maxKmh: 1000, toleranceKm: 500 };

describe('credential-stuffing detector', () => {
  it('detects N distinct accounts failing from one source within the window, once per wave', () => {
    const clock = new FakeClock();
    const detector = new StuffingDetector(clock, { accounts: 5, windowMs: 60_000, maxSources: 100 });
    const results: boolean[] = [];
    for (let i = 0; i < 4; i++) results.push(detector.failed('198.51.100.1', `user${i}`));
    // The same account again does not count twice; another source is kept apart.
    results.push(detector.failed('198.51.100.1', 'user0'));
    results.push(detector.failed('198.51.100.2', 'user4'));
    expect(results.every((r) => !r)).toBe(true);
    expect(detector.detected('198.51.100.1')).toBe(false);
    expect(detector.failed('198.51.100.1', 'user4')).toBe(true);
    expect(detector.detected('198.51.100.1')).toBe(true);
    expect(detector.failed('198.51.100.1', 'user5')).toBe(false); // already reported
    expect(detector.detected('198.51.100.2')).toBe(false);
    clock.advance(60_001);
    expect(detector.detected('198.51.100.1')).toBe(false);
  });

  it('forgets failures older than the window', () => {
    const clock = new FakeClock();
    const detector = new StuffingDetector(clock, { accounts: 3, windowMs: 60_000, maxSources: 100 });
    detector.failed('s', 'a');
    detector.failed('s', 'b');
    clock.advance(60_001);
    expect(detector.failed('s', 'c')).toBe(false);
    expect(detector.failed('s', 'd')).toBe(false);
    expect(detector.failed('s', 'e')).toBe(true);
  });

  it('remembers at most maxSources sources, dropping the least recently seen', () => {
    const clock = new FakeClock();
    const detector = new StuffingDetector(clock, { accounts: 2, windowMs: 60_000, maxSources: 2 });
    detector.failed('a', 'x');
    detector.failed('b', 'x');
    detector.failed('c', 'x'); // evicts a
    expect(detector.failed('a', 'y')).toBe(false);
    expect(detector.failed('c', 'y')).toBe(true);
  });

  it('refuses a policy that could never or always fire', () => {
    const clock = new FakeClock();
    expect(() => new StuffingDetector(clock, { accounts: 1, windowMs: 1, maxSources: 1 })).toThrow(TypeError);
  });
});

describe('impossible travel', () => {
  it('measures great-circle distances', () => {
    expect(greatCircleKm(LONDON, PARIS)).toBeGreaterThan(330);
    expect(greatCircleKm(LONDON, PARIS)).toBeLessThan(360);
    expect(greatCircleKm(LONDON, TOKYO)).toBeGreaterThan(9500);
    expect(greatCircleKm(LONDON, TOKYO)).toBeLessThan(9650);
  });

  it('flags London then Tokyo ten minutes later, and London then New York two hours later', () => {
    const at = Date.UTC(2026, 0, 1);
    const tokyo = impossibleTravel({ ...LONDON, at }, { ...TOKYO, at: at + 10 * 60_000 }, POLICY);
    expect(tokyo?.distanceKm).toBeGreaterThan(9000);
    expect(tokyo?.elapsedMs).toBe(10 * 60_000);
    expect(
      impossibleTravel({ ...LONDON, at }, { ...NEW_YORK, at: at + 2 * 3600_000 }, POLICY),
    ).not.toBeNull();
  });

  it('allows plausible pairs: within the tolerance at once, or a flight that had time', () => {
    const at = Date.UTC(2026, 0, 1);
    expect(impossibleTravel({ ...LONDON, at }, { ...PARIS, at: at + 60_000 }, POLICY)).toBeNull();
    expect(impossibleTravel({ ...LONDON, at }, { ...NEW_YORK, at: at + 8 * 3600_000 }, POLICY)).toBeNull();
    expect(impossibleTravel({ ...LONDON, at }, { ...TOKYO, at: at + 10 * 3600_000 }, POLICY)).toBeNull();
  });
});

describe('expiring set', () => {
  it('holds a key until its time, and is bounded', () => {
    const clock = new FakeClock();
    const set = new ExpiringSet(clock, 2);
    set.add('a', clock.now() + 1000);
    expect(set.heldUntil('a')).toBe(clock.now() + 1000);
    clock.advance(1000);
    expect(set.heldUntil('a')).toBeNull();
    set.add('b', clock.now() + 1000);
    set.add('c', clock.now() + 1000);
    set.add('d', clock.now() + 1000);
    expect(set.heldUntil('b')).toBeNull();
    expect(set.heldUntil('d')).not.toBeNull();
  });
});
