// The dashboard's authentication, without HTTP: the login token check (constant time), the
// sessions it opens (random ids, fixed lifetime, bounded count) and the limit on failed logins.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../lib/clock.ts';
import { LanyardError, type CoreErrorCode } from '../../lib/errors.ts';

const TOKEN_SHAPE = /^[\x21-\x7e]{32,512}$/;

/** Checks a configured login token: 32 to 512 printable ASCII characters, no spaces. */
export function checkLoginToken(token: string): string {
  if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      'the dashboard login token must be 32 to 512 printable ASCII characters without spaces',
    );
  }
  return token;
}

/** A new random login token (for `lanyard dev`, which prints it). */
export function generateLoginToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether `given` equals `expected`, in time that depends on neither (both are hashed first). */
export function tokenMatches(expected: string, given: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(given));
}

export interface SessionOptions {
  clock: Clock;
  /** Lifetime of a session from login; no renewal. Default 1 h. */
  ttlMs?: number;
  /** Most live sessions; a new login beyond it ends the oldest. Default 100. */
  maxSessions?: number;
}

export class Sessions {
  private readonly expiries = new Map<string, number>();
  readonly ttlMs: number;
  private readonly maxSessions: number;

  constructor(private readonly options: SessionOptions) {
    this.ttlMs = options.ttlMs ?? 3600_000;
    this.maxSessions = options.maxSessions ?? 100;
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs < 1000 || this.ttlMs > 12 * 3600_000) {
      throw new TypeError('session ttlMs must be from 1 s to 12 h');
    }
    if (!Number.isSafeInteger(this.maxSessions) || this.maxSessions < 1) {
      throw new TypeError('maxSessions must be a positive integer');
    }
  }

  /** Opens a session; returns its id (the cookie value). */
  open(): string {
    const now = this.options.clock.now();
    this.prune(now);
    while (this.expiries.size >= this.maxSessions) {
      this.expiries.delete(this.expiries.keys().next().value as string);
    }
    const id = randomBytes(32).toString('base64url');
    this.expiries.set(id, now + this.ttlMs);
    return id;
  }

  /** Whether `id` names a live session; an expired one is forgotten. */
  valid(id: string | undefined): boolean {
    if (id === undefined) return false;
    const expires = this.expiries.get(id);
    if (expires === undefined) return false;
    if (expires > this.options.clock.now()) return true;
    this.expiries.delete(id);
    return false;
  }

  close(id: string | undefined): void {
    if (id !== undefined) this.expiries.delete(id);
  }

  get size(): number {
    return this.expiries.size;
  }

  private prune(now: number): void {
    for (const [id, expires] of this.expiries) if (expires <= now) this.expiries.delete(id);
  }
}

export interface FailureLimitOptions {
  clock: Clock;
  /** Failed logins allowed per window. Default 10. */
  max?: number;
  /** Default 1 min. */
  windowMs?: number;
}

/**
 * Failed logins in a fixed window, for the whole dashboard: behind port-forward every caller is
 * 127.0.0.1, so a per-address limit would be one limit anyway. A 256-bit token is not guessable;
 * the limit bounds the work and the log lines a guesser causes.
 */
export class FailureLimit {
  private windowStart = 0;
  private failures = 0;
  private readonly max: number;
  private readonly windowMs: number;

  constructor(private readonly options: FailureLimitOptions) {
    this.max = options.max ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    if (!(
      Number.isSafeInteger(this.max) &&
      this.max > 0 &&
      Number.isSafeInteger(this.windowMs) &&
      this.windowMs > 0
    )) {
      throw new TypeError('failure limit needs positive integer max and windowMs');
    }
  }

  /** Milliseconds until logins are accepted again; 0 when they are. */
  retryAfterMs(): number {
    const now = this.options.clock.now();
    if (now >= this.windowStart + this.windowMs) {
      this.windowStart = now;
      this.failures = 0;
    }
    return this.failures >= this.max ? this.windowStart + this.windowMs - now : 0;
  }

  fail(): void {
    this.retryAfterMs();
    this.failures += 1;
  }
}
