/**
 * The JWS algorithms accepted for end-user tokens. "none" and every HMAC algorithm are absent on
 * purpose: a verifier that holds only public keys must never accept a MAC (the RS→HS
 * algorithm-confusion attacks), nor an unsigned token.
 */
export const SUPPORTED_ALGORITHMS = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
  'Ed25519',
] as const);

export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

const SUPPORTED: ReadonlySet<string> = new Set(SUPPORTED_ALGORITHMS);

export function isSupportedAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && SUPPORTED.has(value);
}

const RSA_ALGORITHMS: readonly JwsAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGORITHMS: Readonly<Record<string, readonly JwsAlgorithm[]>> = {
  'P-256': ['ES256'],
  'P-384': ['ES384'],
};
const OKP_ALGORITHMS: Readonly<Record<string, readonly JwsAlgorithm[]>> = { Ed25519: ['EdDSA', 'Ed25519'] };

/** The public members of a verification key, and nothing else from the JWKS entry. */
export type PublicJwk =
  | { readonly kty: 'RSA'; readonly n: string; readonly e: string }
  | { readonly kty: 'EC'; readonly crv: 'P-256' | 'P-384'; readonly x: string; readonly y: string }
  | { readonly kty: 'OKP'; readonly crv: 'Ed25519'; readonly x: string };

/** The algorithms a key of this type and curve may verify. */
export function algorithmsForKey(jwk: PublicJwk): readonly JwsAlgorithm[] {
  switch (jwk.kty) {
    case 'RSA':
      return RSA_ALGORITHMS;
    case 'EC':
      return EC_ALGORITHMS[jwk.crv] ?? [];
    case 'OKP':
      return OKP_ALGORITHMS[jwk.crv] ?? [];
  }
}
