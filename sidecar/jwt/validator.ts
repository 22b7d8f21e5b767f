import { compactVerify, errors as joseErrors } from 'jose';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { LanyardError, type CoreErrorCode } from '../../lib/errors.ts';
import { sidecarError } from '../errors.ts';
import { isSupportedAlgorithm, type JwsAlgorithm } from './algorithms.ts';
import { checkClaims } from './claims.ts';
import { parseStrictJsonObject, type JsonLimits, type JsonObject } from './json.ts';
import {
  DEFAULT_JWKS_CACHE_OPTIONS,
  RemoteKeySource,
  StaticKeySource,
  type JwksCacheOptions,
  type JwksFetcher,
  type KeySource,
} from './key-source.ts';
import { KeySet, parseJwks } from './keyset.ts';
import { createHttpJwksFetcher } from './fetch.ts';
import type { KeySourcePool } from './key-source-pool.ts';
import { inspectToken } from './token.ts';
import { DEFAULT_TOKEN_CACHE_SIZE, MAX_TOKEN_CACHE_SIZE, TokenCache, tokenDigest } from './token-cache.ts';

/** One end-user token issuer, as a policy names it. Exactly one of jwksUri and jwks. */
export interface IssuerConfig {
  /** Compared exactly with the token's `iss`. */
  readonly issuer: string;
  /** https URI of the issuer's JWKS. */
  readonly jwksUri?: string;
  /** An inline JWKS document ({"keys": [...]}). */
  readonly jwks?: unknown;
  /** The token's `aud` must hold at least one of these. Not empty. */
  readonly audiences: readonly string[];
  /** Narrows the supported algorithms for this issuer. Default: all supported. */
  readonly algorithms?: readonly JwsAlgorithm[];
}

export interface JwtValidatorOptions {
  readonly clock?: Clock;
  /** How JWKS documents are fetched. Default: createHttpJwksFetcher() (https only). */
  readonly fetcher?: JwksFetcher;
  /** Tolerance on exp, nbf and iat. Default 30 s, at most 5 min. */
  readonly clockSkewMs?: number;
  /** Longest token accepted, in characters. Default 16 KiB, at most 64 KiB. */
  readonly maxTokenLength?: number;
  /** Most top-level claims in a payload. Default 256. */
  readonly maxClaims?: number;
  /** Deepest nesting of a claim value. Default 16. */
  readonly maxClaimDepth?: number;
  readonly jwksCache?: Partial<JwksCacheOptions>;
  /**
   * Remote key sources shared with earlier validators (one per issuer and JWKS URI), so that a
   * new policy snapshot keeps the JWKS caches of the issuers it keeps. Sources that this
   * validator does not use are dropped from the pool.
   */
  readonly keySources?: KeySourcePool<RemoteKeySource>;
  /** Told of every JWKS fetch's outcome, by issuer, for metrics. */
  readonly onJwksFetch?: (issuer: string, outcome: 'ok' | 'error') => void;
  /**
   * Verified tokens remembered (by SHA-256 digest, until exp, while the issuer's keys are
   * unchanged), so that a repeated token skips the signature check. Default 10 000; 0 = off.
   */
  readonly tokenCacheSize?: number;
}

/** A token whose signature and claims verified. Nothing here comes from an unverified token. */
export interface VerifiedToken<Issuer extends IssuerConfig = IssuerConfig> {
  /** The configuration of the issuer that the token's `iss` selected (the object given). */
  readonly issuer: Issuer;
  /** The verified payload, deeply frozen. */
  readonly claims: JsonObject;
  readonly subject: string | undefined;
  readonly algorithm: JwsAlgorithm;
  readonly keyId: string;
  /** `exp` in milliseconds since the epoch. */
  readonly expiresAt: number;
}

export interface JwtValidator<Issuer extends IssuerConfig = IssuerConfig> {
  /**
   * Verifies a compact JWS end-user token. Rejects with a LanyardError carrying a
   * SIDECAR_ERRORS code; never resolves for a token that failed any check.
   */
  verify(token: string): Promise<VerifiedToken<Issuer>>;
}

function configError(message: string, detail?: Record<string, unknown>): LanyardError {
  return new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message, detail);
}

function boundedInteger(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw configError(`${name} must be an integer in [${min}, ${max}]`, { [name]: value });
  }
  return value;
}

function cacheOptions(given: Partial<JwksCacheOptions> | undefined): JwksCacheOptions {
  const options = { ...DEFAULT_JWKS_CACHE_OPTIONS };
  for (const name of Object.keys(options) as (keyof JwksCacheOptions)[]) {
    options[name] = boundedInteger(`jwksCache.${name}`, given?.[name], options[name], 0, 7 * 24 * 3600_000);
  }
  return Object.freeze(options);
}

interface PreparedIssuer<Issuer> {
  readonly config: Issuer;
  /** Replaced by the pooled source, when there is a pool, once the whole configuration passed. */
  keys: KeySource;
  /** Set for a remote JWKS: its normalized URI. */
  readonly jwksUri?: string;
  readonly algorithms: ReadonlySet<JwsAlgorithm>;
}

function prepareIssuer<Issuer extends IssuerConfig>(
  config: Issuer,
  fetcher: () => JwksFetcher,
  clock: Clock,
  cache: JwksCacheOptions,
  onFetch: ((issuer: string, outcome: 'ok' | 'error') => void) | undefined,
): PreparedIssuer<Issuer> {
  const { issuer } = config;
  if (typeof issuer !== 'string' || issuer.length === 0 || issuer.length > 2048) {
    throw configError('issuer must be a non-empty string of at most 2048 characters');
  }
  if (
    !Array.isArray(config.audiences) ||
    config.audiences.length === 0 ||
    !config.audiences.every((aud) => typeof aud === 'string' && aud.length > 0)
  ) {
    throw configError('audiences must be a non-empty list of non-empty strings', { issuer });
  }
  const algorithms = config.algorithms ?? [];
  if (config.algorithms !== undefined && (!Array.isArray(algorithms) || algorithms.length === 0)) {
    throw configError('algorithms, when given, must be a non-empty list', { issuer });
  }
  if (!algorithms.every(isSupportedAlgorithm)) {
    throw configError('algorithms holds an unsupported algorithm', { issuer });
  }
  if ((config.jwksUri === undefined) === (config.jwks === undefined)) {
    throw configError('give exactly one of jwksUri and jwks', { issuer });
  }
  if (config.jwks !== undefined) {
    const parsed = parseJwks(config.jwks);
    if (!parsed || parsed.keys.length === 0)
      throw configError('jwks holds no usable verification key', { issuer });
    return { config, keys: new StaticKeySource(new KeySet(parsed.keys)), algorithms: new Set(algorithms) };
  }
  const source = fetcher();
  let uri: URL;
  try {
    uri = new URL(config.jwksUri!);
  } catch {
    throw configError('jwksUri is not a URL', { issuer });
  }
  const allowed = uri.protocol === 'https:' || (uri.protocol === 'http:' && source.allowsInsecureHttp);
  if (!allowed || uri.username !== '' || uri.password !== '' || uri.hash !== '') {
    throw configError('jwksUri must be an https URL without credentials or fragment', { issuer });
  }
  const report = onFetch && ((outcome: 'ok' | 'error') => onFetch(issuer, outcome));
  const keys = new RemoteKeySource(uri, source, clock, cache, report);
  return { config, keys, jwksUri: uri.href, algorithms: new Set(algorithms) };
}

/**
 * Builds the validator for the issuers that the policy names. Configuration is checked here,
 * at once (ERR_CONFIG_INVALID); each issuer has its own key cache.
 */
export function createJwtValidator<Issuer extends IssuerConfig>(
  issuers: readonly Issuer[],
  options: JwtValidatorOptions = {},
): JwtValidator<Issuer> {
  const clock = options.clock ?? systemClock;
  const clockSkewMs = boundedInteger('clockSkewMs', options.clockSkewMs, 30_000, 0, 300_000);
  const maxTokenLength = boundedInteger('maxTokenLength', options.maxTokenLength, 16 * 1024, 256, 64 * 1024);
  const payloadLimits: JsonLimits = {
    maxMembers: boundedInteger('maxClaims', options.maxClaims, 256, 1, 4096),
    maxDepth: boundedInteger('maxClaimDepth', options.maxClaimDepth, 16, 1, 64),
  };
  const cache = cacheOptions(options.jwksCache);
  const verified = new TokenCache<VerifiedToken<Issuer>>(
    boundedInteger(
      'tokenCacheSize',
      options.tokenCacheSize,
      DEFAULT_TOKEN_CACHE_SIZE,
      0,
      MAX_TOKEN_CACHE_SIZE,
    ),
  );
  let fetcher = options.fetcher;
  const lazyFetcher = () => (fetcher ??= createHttpJwksFetcher());

  const byIssuer = new Map<string, PreparedIssuer<Issuer>>();
  for (const config of issuers) {
    const prepared = prepareIssuer(config, lazyFetcher, clock, cache, options.onJwksFetch);
    if (byIssuer.has(config.issuer))
      throw configError('an issuer is configured twice', { issuer: config.issuer });
    byIssuer.set(config.issuer, prepared);
  }
  // The pool changes only once the whole configuration is accepted: a refused one leaves it as it was.
  const pool = options.keySources;
  if (pool) {
    const remote = [...byIssuer.values()].filter((prepared) => prepared.jwksUri !== undefined);
    for (const prepared of remote) {
      const fresh = prepared.keys as RemoteKeySource;
      prepared.keys = pool.sourceFor(prepared.config.issuer, prepared.jwksUri!, () => fresh);
    }
    pool.retainOnly(
      remote.map((prepared) => ({ issuer: prepared.config.issuer, jwksUri: prepared.jwksUri! })),
    );
  }

  async function verify(token: string): Promise<VerifiedToken<Issuer>> {
    // An oversized token is refused by inspectToken below before anything hashes it.
    const digest = typeof token === 'string' && token.length <= maxTokenLength ? tokenDigest(token) : '';
    const hit = digest ? verified.get(digest, clock.now()) : undefined;
    if (hit) return hit;
    const unverified = inspectToken(token, maxTokenLength, payloadLimits);
    const issuer = unverified.iss === undefined ? undefined : byIssuer.get(unverified.iss);
    if (!issuer)
      throw sidecarError('ERR_JWT_ISSUER_UNKNOWN', {
        reason: unverified.iss === undefined ? 'no iss' : 'not configured',
      });
    const { alg, kid } = unverified;
    if (issuer.algorithms.size > 0 && !issuer.algorithms.has(alg)) {
      throw sidecarError('ERR_JWT_ALG_NOT_ALLOWED', { alg, reason: 'not enabled for this issuer' });
    }
    const { cryptoKey, keys } = await issuer.keys.resolveKey(kid, alg);
    let payload: Uint8Array;
    try {
      ({ payload } = await compactVerify(token, cryptoKey, { algorithms: [alg] }));
    } catch (error) {
      if (error instanceof joseErrors.JWSSignatureVerificationFailed)
        throw sidecarError('ERR_JWT_SIGNATURE', undefined, error);
      throw sidecarError('ERR_JWT_MALFORMED', { reason: 'the JWS does not verify' }, error);
    }
    const parsed = parseStrictJsonObject(Buffer.from(payload).toString('utf8'), payloadLimits);
    if (!parsed.ok) throw sidecarError('ERR_JWT_MALFORMED', { reason: `payload: ${parsed.reason}` });
    const claims = parsed.value;
    checkClaims(claims, {
      issuer: issuer.config.issuer,
      audiences: issuer.config.audiences,
      nowMs: clock.now(),
      clockSkewMs,
    });
    const result: VerifiedToken<Issuer> = Object.freeze({
      issuer: issuer.config,
      claims,
      subject: claims.sub as string | undefined,
      algorithm: alg,
      keyId: kid,
      expiresAt: (claims.exp as number) * 1000,
    });
    // Served again only where checkClaims would pass again: before exp (the skew allowance past
    // exp is left to a full check), not before nbf/iat, and only with these very keys.
    const notBefore = Math.max(
      typeof claims.nbf === 'number' ? claims.nbf * 1000 : -Infinity,
      typeof claims.iat === 'number' ? claims.iat * 1000 : -Infinity,
    );
    const source = issuer.keys;
    if (digest)
      verified.set(digest, {
        value: result,
        validFromMs: notBefore - clockSkewMs,
        validUntilMs: result.expiresAt,
        keysUnchanged: () => source.peekKeys() === keys,
      });
    return result;
  }

  return Object.freeze({ verify });
}
