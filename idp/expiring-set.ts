import type { Clock } from '../lib/clock.ts';

/** Keys that hold until a time, in memory, bounded: the oldest entry goes when it is full. */
export class ExpiringSet {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys = 100_000,
  ) {}

  add(key: string, untilMs: number): void {
    this.until.delete(key);
    this.until.set(key, untilMs);
    if (this.until.size > this.maxKeys) this.until.delete(this.until.keys().next().value!);
  }

  /** The time the key holds until, or null if it does not hold now. */
  heldUntil(key: string): number | null {
    const until = this.until.get(key);
    if (until === undefined) return null;
    if (until <= this.clock.now()) {
      this.until.delete(key);
      return null;
    }
    return until;
  }
}
