export { SUPPORTED_ALGORITHMS, type JwsAlgorithm } from './algorithms.ts';
export { createHttpJwksFetcher, type HttpJwksFetcherOptions } from './fetch.ts';
export type { JsonObject } from './json.ts';
export { createKeySourcePool, type KeySourcePool } from './key-source-pool.ts';
export {
  DEFAULT_JWKS_CACHE_OPTIONS,
  type JwksCacheOptions,
  type JwksFetcher,
  type JwksResponse,
  type RemoteKeySource,
} from './key-source.ts';
export {
  createJwtValidator,
  type IssuerConfig,
  type JwtValidator,
  type JwtValidatorOptions,
  type VerifiedToken,
} from './validator.ts';
