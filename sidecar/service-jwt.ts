// Service JWTs (JWT-SVIDs) for destinations outside the mesh: one cached token per audience,
// minted by the CA, refreshed ahead of expiry, one mint at a time per audience. Tokens are
// credentials: nothing here logs them, and errors never carry them.
import type { Clock } from '../lib/clock.ts';

export interface MintedServiceToken {
  readonly token: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

export interface ServiceTokenCacheOptions {
  /** Mints a JWT-SVID for one audience (the CA client, authenticated by the current SVID). */
  readonly mint: (audience: string) => Promise<MintedServiceToken>;
  readonly clock: Clock;
  /** Refresh this long before expiry (at most half the token's lifetime). Default 60 s. */
  readonly refreshAheadMs?: number;
  /** A token with less life than this left is never handed out. Default 10 s. */
  readonly minRemainingMs?: number;
  /** After a failed mint, callers without a usable token fail at once for this long. Default 2 s. */
  readonly retryAfterFailureMs?: number;
  /** Most audiences cached; the least recently used one goes first. Default 64. */
  readonly maxAudiences?: number;
  /** Each mint's outcome, for metrics. */
  readonly onMint?: (outcome: 'ok' | 'error') => void;
}

export interface ServiceTokenCache {
  /** A token for `audience` with at least minRemainingMs of life left; rejects if none can be had. */
  get(audience: string): Promise<string>;
}

interface Entry {
  token?: string;
  refreshAt: number;
  usableUntil: number;
  inflight?: Promise<string>;
  failedAt: number;
  lastError?: unknown;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < 0 || resolved > 3600_000) {
    throw new TypeError(`${name} must be an integer number of milliseconds up to one hour`);
  }
  return resolved;
}

export function createServiceTokenCache(options: ServiceTokenCacheOptions): ServiceTokenCache {
  const { clock } = options;
  const refreshAheadMs = positive('refreshAheadMs', options.refreshAheadMs, 60_000);
  const minRemainingMs = positive('minRemainingMs', options.minRemainingMs, 10_000);
  const retryAfterFailureMs = positive('retryAfterFailureMs', options.retryAfterFailureMs, 2_000);
  const maxAudiences = options.maxAudiences ?? 64;
  if (!Number.isInteger(maxAudiences) || maxAudiences < 1) throw new TypeError('maxAudiences must be ≥ 1');
  const entries = new Map<string, Entry>();

  const entryFor = (audience: string): Entry => {
    let entry = entries.get(audience);
    if (entry) {
      // Re-insert: Map order is then least recently used first.
      entries.delete(audience);
    } else {
      entry = { refreshAt: -Infinity, usableUntil: -Infinity, failedAt: -Infinity };
      if (entries.size >= maxAudiences) entries.delete(entries.keys().next().value!);
    }
    entries.set(audience, entry);
    return entry;
  };

  const mint = (audience: string, entry: Entry): Promise<string> => {
    entry.inflight ??= options
      .mint(audience)
      .then((minted) => {
        const now = clock.now();
        if (typeof minted.token !== 'string' || minted.token.length === 0) {
          throw new Error('the CA returned no token');
        }
        if (!(minted.expiresAt - minRemainingMs > now)) {
          throw new Error('the CA returned a token that expires too soon');
        }
        const lifetime = minted.expiresAt - now;
        entry.token = minted.token;
        entry.usableUntil = minted.expiresAt - minRemainingMs;
        entry.refreshAt = minted.expiresAt - Math.min(refreshAheadMs, lifetime / 2);
        entry.lastError = undefined;
        options.onMint?.('ok');
        return minted.token;
      })
      .catch((error: unknown) => {
        entry.failedAt = clock.now();
        entry.lastError = error;
        options.onMint?.('error');
        throw error;
      })
      .finally(() => (entry.inflight = undefined));
    return entry.inflight;
  };

  return {
    get(audience) {
      if (typeof audience !== 'string' || audience.length === 0) {
        return Promise.reject(new TypeError('audience must be a non-empty string'));
      }
      const entry = entryFor(audience);
      const now = clock.now();
      if (entry.token !== undefined && now < entry.usableUntil) {
        const mayRetry = now - entry.failedAt >= retryAfterFailureMs;
        // Refresh ahead in the background; the current token serves meanwhile.
        if (now >= entry.refreshAt && !entry.inflight && mayRetry)
          mint(audience, entry).catch(() => undefined);
        return Promise.resolve(entry.token);
      }
      if (entry.inflight) return entry.inflight;
      if (now - entry.failedAt < retryAfterFailureMs) {
        return Promise.reject(
          new Error('no service token: the last mint failed', { cause: entry.lastError }),
        );
      }
      return mint(audience, entry);
    },
  };
}
