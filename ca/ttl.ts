import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';

/** X.509-SVID lifetimes: a requested TTL is clamped into [minMs, maxMs]. */
export interface TtlPolicy {
  readonly defaultMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** How far NotBefore is backdated, for peers whose clocks lag. */
  readonly skewMs: number;
}

export const DEFAULT_TTL_POLICY: TtlPolicy = Object.freeze({
  defaultMs: 3600_000,
  minMs: 5 * 60_000,
  maxMs: 24 * 3600_000,
  skewMs: 30_000,
});

export function ttlPolicy(options: Partial<TtlPolicy> = {}): TtlPolicy {
  const policy = { ...DEFAULT_TTL_POLICY, ...options };
  const ok =
    Number.isInteger(policy.minMs) &&
    policy.minMs >= 60_000 &&
    policy.minMs <= policy.defaultMs &&
    policy.defaultMs <= policy.maxMs &&
    policy.maxMs <= 30 * 24 * 3600_000 &&
    policy.skewMs >= 0 &&
    policy.skewMs <= 10 * 60_000;
  if (!ok) {
    throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', 'CA TTL bounds are inconsistent', policy);
  }
  return Object.freeze(policy);
}

/** The TTL a leaf gets: the default when none is asked, otherwise the request clamped. */
export function clampTtl(policy: TtlPolicy, requestedMs?: number): number {
  if (requestedMs === undefined || requestedMs <= 0 || !Number.isFinite(requestedMs)) return policy.defaultMs;
  return Math.min(policy.maxMs, Math.max(policy.minMs, Math.floor(requestedMs)));
}
