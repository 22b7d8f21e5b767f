import type { Clock } from '../../lib/clock.ts';

/** A clock that moves only when a test says so. */
export class FakeClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a clock does not go back');
    this.current += ms;
  }

  set(ms: number): void {
    this.current = ms;
  }
}
