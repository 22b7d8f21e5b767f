import type { CryptoKey } from 'jose';
import type { Clock } from '../../lib/clock.ts';
import { LanyardError } from '../../lib/errors.ts';
import { sidecarError } from '../errors.ts';
import type { JwsAlgorithm } from './algorithms.ts';
import { KeySet, parseJwks } from './keyset.ts';

/** Where an issuer's verification keys come from. */
export interface KeySource {
  /** The key for this kid and algorithm; throws ERR_JWT_KEY_NOT_FOUND, ERR_JWT_ALG_NOT_ALLOWED or ERR_JWKS_UNAVAILABLE. */
  getKey(kid: string, alg: JwsAlgorithm): Promise<CryptoKey>;
  /** As getKey, with the key set the key came from (so that a cache can tell when it is replaced). */
  resolveKey(kid: string, alg: JwsAlgorithm): Promise<ResolvedKey>;
  /**
   * The key set that getKey would use now, without waiting: undefined when none is usable.
   * Starts a background refresh when one is due, as getKey would.
   */
  peekKeys(): KeySet | undefined;
}

export interface ResolvedKey {
  readonly cryptoKey: CryptoKey;
  readonly keys: KeySet;
}

/** A fetched JWKS document and the cache lifetime its response asked for. */
export interface JwksResponse {
  readonly body: unknown;
  /** From Cache-Control max-age (0 for no-cache or no-store); undefined when absent. */
  readonly maxAgeSeconds?: number;
}

/** Fetches a JWKS document; rejects with ERR_JWKS_FETCH_FAILED. */
export interface JwksFetcher {
  /** Whether plain http URIs are accepted (only an explicit test option turns this on). */
  readonly allowsInsecureHttp: boolean;
  fetchJwks(uri: URL): Promise<JwksResponse>;
}

export interface JwksCacheOptions {
  /** Lifetime when the response carries no max-age. Default 10 minutes. */
  readonly defaultMaxAgeMs: number;
  /** Lower bound on a response's max-age, so that no-cache cannot make every token a fetch. Default 1 minute. */
  readonly minMaxAgeMs: number;
  /** Upper bound on a response's max-age. Default 24 hours. */
  readonly maxMaxAgeMs: number;
  /** How long expired keys are still served while a refresh is attempted; after that, fail closed. Default 1 hour. */
  readonly maxStaleMs: number;
  /** Least time between fetches caused by a token whose kid is unknown. Default 30 seconds. */
  readonly unknownKidRefetchIntervalMs: number;
  /** Least time after a failed fetch before the next attempt. Default 5 seconds. */
  readonly retryAfterFailureMs: number;
}

export const DEFAULT_JWKS_CACHE_OPTIONS: JwksCacheOptions = Object.freeze({
  defaultMaxAgeMs: 10 * 60_000,
  minMaxAgeMs: 60_000,
  maxMaxAgeMs: 24 * 3600_000,
  maxStaleMs: 3600_000,
  unknownKidRefetchIntervalMs: 30_000,
  retryAfterFailureMs: 5_000,
});

/** Keys given inline in the policy: nothing to fetch, nothing to refresh. */
export class StaticKeySource implements KeySource {
  constructor(private readonly keys: KeySet) {}

  getKey(kid: string, alg: JwsAlgorithm): Promise<CryptoKey> {
    return resolve(this.keys, kid, alg);
  }

  async resolveKey(kid: string, alg: JwsAlgorithm): Promise<ResolvedKey> {
    return { cryptoKey: await resolve(this.keys, kid, alg), keys: this.keys };
  }

  peekKeys(): KeySet {
    return this.keys;
  }
}

async function resolve(keys: KeySet, kid: string, alg: JwsAlgorithm): Promise<CryptoKey> {
  const found = keys.lookup(kid, alg);
  if (found.status === 'unknown-kid') throw sidecarError('ERR_JWT_KEY_NOT_FOUND', { reason: 'unknown kid' });
  if (found.status === 'alg-mismatch') {
    throw sidecarError('ERR_JWT_ALG_NOT_ALLOWED', {
      reason: 'no key with this kid may verify this alg',
      alg,
    });
  }
  try {
    return await keys.cryptoKey(found.key, alg);
  } catch (error) {
    throw sidecarError('ERR_JWT_KEY_NOT_FOUND', { reason: 'the JWKS key cannot be imported' }, error);
  }
}

interface CachedKeys {
  readonly keys: KeySet;
  readonly freshUntil: number;
  readonly usableUntil: number;
}

/**
 * The keys of one issuer's JWKS URI: cached for the response's max-age (bounded), served stale
 * while a background refresh runs (up to maxStaleMs past expiry), refetched when a token names
 * an unknown kid (at most once per unknownKidRefetchIntervalMs), one fetch at a time. A failed
 * fetch never replaces good keys and never adds a fallback key; with no usable cached keys the
 * answer is ERR_JWKS_UNAVAILABLE.
 */
export class RemoteKeySource implements KeySource {
  private cached: CachedKeys | undefined;
  private inflight: Promise<CachedKeys> | undefined;
  private lastAttemptAt = -Infinity;
  private lastFailureAt = -Infinity;
  private lastError: unknown;

  constructor(
    private readonly uri: URL,
    private readonly fetcher: JwksFetcher,
    private readonly clock: Clock,
    private readonly options: JwksCacheOptions = DEFAULT_JWKS_CACHE_OPTIONS,
    /** Told of every fetch's outcome, for metrics. */
    private readonly onFetch?: (outcome: 'ok' | 'error') => void,
  ) {}

  async getKey(kid: string, alg: JwsAlgorithm): Promise<CryptoKey> {
    return (await this.resolveKey(kid, alg)).cryptoKey;
  }

  async resolveKey(kid: string, alg: JwsAlgorithm): Promise<ResolvedKey> {
    let keys = await this.currentKeys();
    if (keys.lookup(kid, alg).status === 'unknown-kid') keys = await this.keysAfterUnknownKid(keys);
    return { cryptoKey: await resolve(keys, kid, alg), keys };
  }

  peekKeys(): KeySet | undefined {
    const now = this.clock.now();
    const cached = this.usable(now);
    if (cached && now >= cached.freshUntil && this.mayAttempt(now)) this.refreshInBackground();
    return cached?.keys;
  }

  private async currentKeys(): Promise<KeySet> {
    const now = this.clock.now();
    const cached = this.usable(now);
    if (cached) {
      if (now >= cached.freshUntil && this.mayAttempt(now)) this.refreshInBackground();
      return cached.keys;
    }
    if (this.inflight) return (await this.settle(this.inflight)).keys;
    if (!this.mayAttempt(now)) throw this.unavailable();
    return (await this.settle(this.refresh())).keys;
  }

  private async keysAfterUnknownKid(keys: KeySet): Promise<KeySet> {
    if (this.inflight) {
      await this.inflight.catch(() => undefined);
    } else {
      const now = this.clock.now();
      if (now - this.lastAttemptAt < this.options.unknownKidRefetchIntervalMs || !this.mayAttempt(now)) {
        return keys;
      }
      await this.refresh().catch(() => undefined);
    }
    return this.usable(this.clock.now())?.keys ?? keys;
  }

  private usable(now: number): CachedKeys | undefined {
    if (this.cached && now >= this.cached.usableUntil) this.cached = undefined;
    return this.cached;
  }

  private mayAttempt(now: number): boolean {
    return !this.inflight && now - this.lastFailureAt >= this.options.retryAfterFailureMs;
  }

  private async settle(pending: Promise<CachedKeys>): Promise<CachedKeys> {
    try {
      return await pending;
    } catch {
      throw this.unavailable();
    }
  }

  private unavailable(): LanyardError {
    const cause = this.lastError;
    const reason = cause instanceof LanyardError ? cause.detail : undefined;
    return sidecarError('ERR_JWKS_UNAVAILABLE', { jwksUri: this.uri.href, ...reason }, cause);
  }

  private refreshInBackground(): void {
    // Errors are kept in lastError; the stale keys keep serving until usableUntil.
    this.refresh().catch(() => undefined);
  }

  private refresh(): Promise<CachedKeys> {
    this.lastAttemptAt = this.clock.now();
    const pending = this.fetchKeys().then(
      (cached) => {
        this.cached = cached;
        this.lastError = undefined;
        this.onFetch?.('ok');
        return cached;
      },
      (error: unknown) => {
        this.lastFailureAt = this.clock.now();
        this.lastError = error;
        this.onFetch?.('error');
        throw error;
      },
    );
    this.inflight = pending;
    const clear = () => {
      if (this.inflight === pending) this.inflight = undefined;
    };
    pending.then(clear, clear);
    return pending;
  }

  private async fetchKeys(): Promise<CachedKeys> {
    const response = await this.fetcher.fetchJwks(this.uri);
    const parsed = parseJwks(response.body);
    if (!parsed) throw sidecarError('ERR_JWKS_FETCH_FAILED', { reason: 'the response is not a JWKS' });
    const { defaultMaxAgeMs, minMaxAgeMs, maxMaxAgeMs, maxStaleMs } = this.options;
    const maxAgeMs =
      response.maxAgeSeconds === undefined
        ? defaultMaxAgeMs
        : Math.min(maxMaxAgeMs, Math.max(minMaxAgeMs, response.maxAgeSeconds * 1000));
    const freshUntil = this.clock.now() + maxAgeMs;
    // An unchanged document keeps its KeySet: imported keys and verified tokens stay valid.
    const fresh = new KeySet(parsed.keys);
    const previous = this.cached?.keys;
    const keys = previous?.fingerprint === fresh.fingerprint ? previous : fresh;
    return { keys, freshUntil, usableUntil: freshUntil + maxStaleMs };
  }
}
