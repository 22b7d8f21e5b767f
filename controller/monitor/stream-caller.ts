// Who is on the other end of a monitor stream (events in, blocks out): the workload whose
// X.509-SVID authenticated the TLS connection, issued by one of the CA's current signers.
// Nothing the caller sends can change the answer.
import { X509Certificate } from 'node:crypto';
import { issuedByAny, verifyPeer } from '../../lib/peer.ts';
import { workloadIdentityOf } from '../../lib/spiffe.ts';

export interface StreamCallerOptions {
  trustDomain: string;
  signers: () => readonly X509Certificate[];
  now: number;
}

/** The caller's SPIFFE ID if it is a workload (`ns/<ns>/sa/<sa>`) of our trust domain; else undefined. */
export function workloadCaller(
  call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | undefined | null },
  options: StreamCallerOptions,
): string | undefined {
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!raw) return undefined;
  const cert = new X509Certificate(raw);
  if (!issuedByAny(cert, options.signers(), options.now)) return undefined;
  const verdict = verifyPeer(cert, { trustDomains: new Set([options.trustDomain]), role: 'client' });
  return verdict.ok && workloadIdentityOf(verdict.id) ? verdict.id.toString() : undefined;
}
