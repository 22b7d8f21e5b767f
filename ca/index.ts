// The CA's public surface: what the controller and the CLI assemble. Internals stay internal.
export { authorityFromPem, generateAuthority, type AuthorityMaterial } from './authority.ts';
export { checkIdentityPolicy, type Attestor, type IdentityPolicy } from './attestor.ts';
export { CallerAuthenticator, type CallerAuthOptions } from './caller-auth.ts';
export {
  CertificateAuthority,
  type CertificateAuthorityOptions,
  type X509SvidResponse,
} from './certificate-authority.ts';
export { CA_ERRORS, CaError, type CaErrorCode } from './errors.ts';
export { FileKeyStore } from './file-keystore.ts';
export { startCaServer, type CaServer, type CaServerOptions } from './grpc-server.ts';
export { JoinTokens } from './join-tokens.ts';
export type { KeyStore, StoredState } from './keystore.ts';
export { Keyring, type KeyringOptions, type TrustBundle } from './keyring.ts';
export { createCaMetrics, type CaMetrics } from './metrics.ts';
export { buildOidcHttp, type OidcHttpOptions } from './oidc-http.ts';
export type { RotationPolicy } from './rotation.ts';
export { SecretKeyStore } from './secret-keystore.ts';
export {
  CA_AUDIENCE,
  TokenReviewAttestor,
  type TokenReviewAttestorOptions,
} from './token-review-attestor.ts';
export { DEFAULT_TTL_POLICY, ttlPolicy, type TtlPolicy } from './ttl.ts';
