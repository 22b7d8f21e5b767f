import type { JWK } from 'jose';
import type { Clock } from '../lib/clock.ts';
import { workloadSpiffeId, type WorkloadIdentity } from '../lib/spiffe.ts';
import { DEFAULT_MAX_CSR_BYTES, parseCsr } from './csr.ts';
import { issueLeaf } from './issue.ts';
import { DEFAULT_JWT_TTL_MS, mintJwtSvid } from './jwt.ts';
import type { Keyring, TrustBundle } from './keyring.ts';
import type { TtlPolicy } from './ttl.ts';

export interface CertificateAuthorityOptions {
  readonly keyring: Keyring;
  readonly clock: Clock;
  readonly ttl: TtlPolicy;
  /** The `iss` of JWT-SVIDs: the URL where /.well-known/openid-configuration is served. */
  readonly jwtIssuer: string;
  readonly jwtMaxTtlMs?: number;
  readonly maxCsrBytes?: number;
}

export interface X509SvidResponse {
  readonly spiffeId: string;
  /** DER: the leaf, then the intermediates up to (not including) the root. */
  readonly chain: readonly Buffer[];
  readonly bundle: TrustBundle;
  readonly expiresAt: number;
}

/** The CA's operations for an already authenticated caller: no sockets, no credentials. */
export class CertificateAuthority {
  constructor(private readonly options: CertificateAuthorityOptions) {}

  issueX509Svid(request: { csr: Buffer; identity: WorkloadIdentity; ttlMs?: number }): X509SvidResponse {
    const csr = parseCsr(request.csr, this.options.maxCsrBytes ?? DEFAULT_MAX_CSR_BYTES);
    const { keyring } = this.options;
    const signer = keyring.signer;
    const leaf = issueLeaf(signer, this.options.ttl, {
      csr,
      identity: request.identity,
      now: this.options.clock.now(),
      ...(request.ttlMs !== undefined ? { ttlMs: request.ttlMs } : {}),
    });
    return {
      spiffeId: leaf.spiffeId,
      chain: [leaf.der, ...signer.chainDer],
      bundle: keyring.bundle(),
      expiresAt: leaf.notAfter,
    };
  }

  mintJwtSvid(request: { identity: WorkloadIdentity; audience: readonly string[]; ttlMs?: number }): {
    token: string;
    spiffeId: string;
    expiresAt: number;
  } {
    const spiffeId = workloadSpiffeId(request.identity).toString();
    const [current] = this.options.keyring.jwtKeys;
    const minted = mintJwtSvid(
      current!,
      { issuer: this.options.jwtIssuer, maxTtlMs: this.options.jwtMaxTtlMs ?? DEFAULT_JWT_TTL_MS },
      {
        spiffeId,
        audience: request.audience,
        now: this.options.clock.now(),
        ...(request.ttlMs !== undefined ? { ttlMs: request.ttlMs } : {}),
      },
    );
    return { ...minted, spiffeId };
  }

  get jwtIssuer(): string {
    return this.options.jwtIssuer;
  }

  /** Public keys for JWT-SVID verification: the current key and, during rotation, the previous. */
  jwks(): { keys: JWK[] } {
    return { keys: this.options.keyring.jwtKeys.map((key) => key.jwk) };
  }

  bundle(): TrustBundle {
    return this.options.keyring.bundle();
  }

  onBundleChange(listener: (bundle: TrustBundle) => void): () => void {
    return this.options.keyring.onBundleChange(listener);
  }
}

export function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}
