import type { Clock } from '../lib/clock.ts';

export interface ThrottlePolicy {
  /** Failures are forgotten this long after the last one. */
  windowMs: number;
  /** Failures allowed before delays start. */
  freeFailures: number;
  /** The first delay; each further failure doubles it, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** After this many failures the key is blocked for blockMs. */
  blockAfter: number;
  blockMs: number;
}

/**
 * Per account: short blocks, so an attacker cannot keep a victim out for long (delays do most
 * of the work). Per source address: more failures allowed (a shared NAT), longer blocks.
 */
export const ACCOUNT_POLICY: ThrottlePolicy = Object.freeze({
  windowMs: 15 * 60_000,
  freeFailures: 3,
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  blockAfter: 10,
  blockMs: 5 * 60_000,
});

export const SOURCE_POLICY: ThrottlePolicy = Object.freeze({
  windowMs: 15 * 60_000,
  freeFailures: 10,
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  blockAfter: 50,
  blockMs: 15 * 60_000,
});

interface Entry {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

export interface ThrottleDecision {
  /** Refuse without checking the password until this time. */
  blockedUntil: number | null;
  /** Wait this long before answering. */
  delayMs: number;
}

/** Failure counts per key in memory, bounded: the oldest keys go first when it is full. */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly policy: ThrottlePolicy,
    private readonly maxKeys = 100_000,
  ) {}

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (
      entry &&
      this.clock.now() - entry.lastFailure > this.policy.windowMs &&
      entry.blockedUntil <= this.clock.now()
    ) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  decide(key: string): ThrottleDecision {
    const entry = this.live(key);
    if (!entry) return { blockedUntil: null, delayMs: 0 };
    if (entry.blockedUntil > this.clock.now()) return { blockedUntil: entry.blockedUntil, delayMs: 0 };
    const excess = entry.failures - this.policy.freeFailures;
    const delayMs = excess < 0 ? 0 : Math.min(this.policy.baseDelayMs * 2 ** excess, this.policy.maxDelayMs);
    return { blockedUntil: null, delayMs };
  }

  fail(key: string): void {
    const now = this.clock.now();
    const entry = this.live(key) ?? { failures: 0, lastFailure: now, blockedUntil: 0 };
    entry.failures += 1;
    entry.lastFailure = now;
    if (entry.failures >= this.policy.blockAfter) {
      entry.blockedUntil = now + this.policy.blockMs;
      entry.failures = 0;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }
}
