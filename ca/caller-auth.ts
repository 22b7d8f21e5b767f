import { X509Certificate } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { Clock } from '../lib/clock.ts';
import { parseSpiffeId, workloadIdentityOf, type WorkloadIdentity } from '../lib/spiffe.ts';
import { checkIdentityPolicy, type Attestor, type IdentityPolicy } from './attestor.ts';
import { caError } from './errors.ts';
import type { Keyring } from './keyring.ts';

export interface CallerAuthOptions {
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly keyring: Keyring;
  /** Projected ServiceAccount tokens, from "authorization: Bearer ...". */
  readonly serviceAccountTokens?: Attestor;
  /** Local mode, from "lanyard-join-token". */
  readonly joinTokens?: Attestor;
  readonly policy?: IdentityPolicy;
  /** How long an attestation may take before the CA gives up (fails closed). Default 5 s. */
  readonly attestTimeoutMs?: number;
}

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

function single(metadata: Metadata, key: string): string | undefined {
  const values = metadata.get(key);
  if (values.length > 1) throw caError('ERR_CA_UNAUTHENTICATED', `more than one ${key}`);
  const [value] = values;
  return typeof value === 'string' ? value : undefined;
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(caError('ERR_CA_UNAVAILABLE', 'credential check timed out')), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Finds out who is calling: a ServiceAccount token, a join token, or (for renewal) the SVID the
 * TLS layer verified as the client certificate. A credential that is present but bad is an
 * error; it never falls through to another method.
 */
export class CallerAuthenticator {
  constructor(private readonly options: CallerAuthOptions) {}

  async authenticate(metadata: Metadata, peerCertificate?: Buffer): Promise<WorkloadIdentity> {
    const timeoutMs = this.options.attestTimeoutMs ?? 5000;
    const authorization = single(metadata, 'authorization');
    if (authorization !== undefined) {
      const token = BEARER.exec(authorization)?.[1];
      if (!token || !this.options.serviceAccountTokens) {
        throw caError('ERR_CA_UNAUTHENTICATED', 'unsupported authorization');
      }
      return withTimeout(this.options.serviceAccountTokens.attest(token), timeoutMs);
    }
    const joinToken = single(metadata, 'lanyard-join-token');
    if (joinToken !== undefined) {
      if (!this.options.joinTokens) throw caError('ERR_CA_UNAUTHENTICATED', 'join tokens are not enabled');
      return withTimeout(this.options.joinTokens.attest(joinToken), timeoutMs);
    }
    if (peerCertificate) return this.fromSvid(peerCertificate);
    throw caError('ERR_CA_UNAUTHENTICATED', 'no credential');
  }

  /** The identity of a still-valid SVID that one of our current signers issued. */
  private fromSvid(der: Buffer): WorkloadIdentity {
    const cert = new X509Certificate(der);
    const now = this.options.clock.now();
    const { state } = this.options.keyring;
    const signers = [state.active, state.next, state.retiring].flatMap((record) =>
      record ? [new X509Certificate(record.signerCertPem)] : [],
    );
    const issued = signers.some((signer) => cert.checkIssued(signer) && cert.verify(signer.publicKey));
    const valid = Date.parse(cert.validFrom) <= now && now < Date.parse(cert.validTo);
    if (!issued || !valid || cert.ca) throw caError('ERR_CA_UNAUTHENTICATED', 'client SVID not accepted');
    const uri = /^URI:(spiffe:\/\/[^,\s]+)$/.exec(cert.subjectAltName ?? '')?.[1];
    const identity = uri ? workloadIdentityOf(parseSpiffeId(uri)) : undefined;
    if (!identity || identity.trustDomain !== this.options.trustDomain) {
      throw caError('ERR_CA_UNAUTHENTICATED', 'client SVID names no workload of this trust domain');
    }
    checkIdentityPolicy(this.options.policy ?? {}, identity);
    return identity;
  }
}
