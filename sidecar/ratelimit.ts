import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../lib/clock.ts';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';

/** A limit of `requests` per `perMs`, which is also the largest burst. */
export interface RateLimit {
  readonly requests: number;
  readonly perMs: number;
}

export interface RateLimiterOptions {
  readonly clock?: Clock;
  /** Most keys tracked at once. Default 10 000. */
  readonly maxKeys?: number;
}

export type RateDecision =
  | { readonly allowed: true; readonly remaining: number }
  /** For a 429: `retryAfterSeconds` is a whole number ≥ 1, ready for the Retry-After header. */
  | { readonly allowed: false; readonly retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts one request for `key` and says whether it may pass. */
  take(key: string): RateDecision;
  /** Keys tracked now (for metrics). */
  readonly size: number;
}

/** Keys longer than this are stored as their SHA-256, so a key costs bounded memory. */
const MAX_STORED_KEY_LENGTH = 256;
const OVERFLOW = Symbol('overflow');

function configError(message: string, detail: Record<string, unknown>): LanyardError {
  return new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message, detail);
}

function positiveInteger(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw configError(`${name} must be an integer in [1, ${max}]`, { [name]: value });
  }
  return value;
}

/**
 * A GCRA rate limiter (the token bucket as one timestamp per key): `requests` per `perMs`,
 * bursts up to `requests`. Each key keeps a theoretical arrival time (TAT); a key whose TAT has
 * passed is idle and equivalent to a fresh one, so it may be dropped at any time.
 *
 * Memory is bounded by `maxKeys`. Keys are kept in least-recently-used order; idle keys are
 * swept as calls pass. When the table is full of active keys, a new key shares one overflow
 * bucket with the same limit: requests stay limited (never reset by eviction, which would let
 * a flood of fresh keys wipe everyone's counters) and memory stays bounded.
 */
export function createRateLimiter(limit: RateLimit, options: RateLimiterOptions = {}): RateLimiter {
  const requests = positiveInteger('requests', limit.requests, 1_000_000_000);
  const perMs = positiveInteger('perMs', limit.perMs, 366 * 24 * 3600_000);
  const maxKeys = positiveInteger('maxKeys', options.maxKeys ?? 10_000, 10_000_000);
  const clock = options.clock ?? systemClock;
  const interval = perMs / requests;
  const arrivals = new Map<string | typeof OVERFLOW, number>();

  function storedKey(key: string): string {
    if (key.length <= MAX_STORED_KEY_LENGTH) return key;
    return `sha256:${createHash('sha256').update(key).digest('base64url')}`;
  }

  function sweep(now: number, count: number): void {
    for (const [key, tat] of arrivals) {
      if (count-- <= 0 || tat > now) return;
      arrivals.delete(key);
    }
  }

  function slotFor(key: string, now: number): string | typeof OVERFLOW {
    if (arrivals.has(key) || arrivals.size < maxKeys) return key;
    sweep(now, 1);
    return arrivals.size < maxKeys ? key : OVERFLOW;
  }

  function take(key: string): RateDecision {
    if (typeof key !== 'string') throw new TypeError('a rate limit key must be a string');
    const now = clock.now();
    sweep(now, 2);
    const slot = slotFor(storedKey(key), now);
    let tat = Math.max(arrivals.get(slot) ?? now, now);
    if (tat > now + perMs) {
      // Only a clock that went back stores a TAT this far ahead: cap it, or the key would be
      // locked out for as long as the clock jumped.
      tat = now + perMs;
      arrivals.set(slot, tat);
    }
    const next = tat + interval;
    if (next - now > perMs + 1e-9) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((next - perMs - now) / 1000)) };
    }
    arrivals.delete(slot);
    arrivals.set(slot, next);
    return { allowed: true, remaining: Math.floor((perMs - (next - now)) / interval + 1e-9) };
  }

  return {
    take,
    get size() {
      return arrivals.size;
    },
  };
}
