// When to prepare, activate and drop CA generations and JWT keys: pure functions of the stored
// state and the time, so that every replica reaches the same decision.
import { X509Certificate } from 'node:crypto';
import type { AuthorityRecord, CaState } from './state.ts';

export interface RotationPolicy {
  /** Prepare the next root once this fraction of the active signer's lifetime has passed. */
  readonly prepareAtFraction: number;
  /** How long the next root sits in the bundle before it signs: time for the bundle to spread. */
  readonly overlapMs: number;
  /** The longest leaf TTL plus skew: how long a retiring root must stay trusted. */
  readonly leafLifetimeMs: number;
  /** How often the JWT-SVID signing key changes. */
  readonly jwtKeyRotationMs: number;
  /** The longest JWT-SVID lifetime plus skew: how long a previous JWT key stays in the JWKS. */
  readonly jwtLifetimeMs: number;
}

export type RotationStep =
  | { kind: 'prepare-root' }
  | { kind: 'activate-root' }
  | { kind: 'drop-root' }
  | { kind: 'rotate-jwt-key' }
  | { kind: 'drop-jwt-key' };

export function lifetimeOf(record: AuthorityRecord): { notBefore: number; notAfter: number } {
  const certs = [record.signerCertPem, record.rootPem].map((pem) => new X509Certificate(pem));
  return {
    notBefore: Math.max(...certs.map((cert) => Date.parse(cert.validFrom))),
    notAfter: Math.min(...certs.map((cert) => Date.parse(cert.validTo))),
  };
}

/** The next step the state needs at `now`, or undefined when it needs none. */
export function nextRotationStep(
  state: CaState,
  now: number,
  policy: RotationPolicy,
): RotationStep | undefined {
  if (state.retiring && now >= (state.retiring.retireAt ?? 0)) return { kind: 'drop-root' };
  if (state.jwtPrevious && now >= (state.jwtPrevious.retireAt ?? 0)) return { kind: 'drop-jwt-key' };
  // Two slots only: the next root activates once the one before it has left the bundle.
  if (state.next && !state.retiring && now >= state.next.createdAt + policy.overlapMs) {
    return { kind: 'activate-root' };
  }
  if (!state.next && !state.retiring && !state.active.external) {
    const { notBefore, notAfter } = lifetimeOf(state.active);
    if (now >= notBefore + (notAfter - notBefore) * policy.prepareAtFraction) return { kind: 'prepare-root' };
  }
  if (!state.jwtPrevious && now >= state.jwtCurrent.createdAt + policy.jwtKeyRotationMs) {
    return { kind: 'rotate-jwt-key' };
  }
  return undefined;
}
