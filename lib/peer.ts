// Verification of a peer's X.509-SVID after the TLS handshake has checked its chain against
// the trust bundle: the identity is the certificate's one SPIFFE URI SAN, nothing else.
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { isLanyardError } from './errors.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe.ts';

const EKU = { client: '1.3.6.1.5.5.7.3.2', server: '1.3.6.1.5.5.7.3.1' } as const;

export interface PeerRequirements {
  /** Trust domains whose identities are accepted. */
  trustDomains: ReadonlySet<string>;
  /** The role the peer plays: a client must carry clientAuth, a server serverAuth. */
  role: 'client' | 'server';
  /** For outbound calls: the exact SPIFFE ID the server must present. */
  expectedId?: string;
}

export type PeerVerdict = { ok: true; id: SpiffeId } | { ok: false; reason: string };

/**
 * Splits Node's subjectAltName string ("URI:a, DNS:b") into entries. Node quotes values that
 * hold separators as JSON strings (since CVE-2021-44532), which this honours, so a crafted
 * value such as `URI:"spiffe://a, URI:spiffe://b"` stays one entry.
 */
export function parseSubjectAltNames(text: string | undefined): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  let rest = text ?? '';
  while (rest.length > 0) {
    const colon = rest.indexOf(':');
    if (colon < 0) throw new TypeError('malformed subjectAltName');
    const type = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
    let value: string;
    if (rest.startsWith('"')) {
      let end = 1;
      while (end < rest.length && rest[end] !== '"') end += rest[end] === '\\' ? 2 : 1;
      value = JSON.parse(rest.slice(0, end + 1)) as string;
      rest = rest.slice(end + 1);
    } else {
      const comma = rest.indexOf(', ');
      value = comma < 0 ? rest : rest.slice(0, comma);
      rest = comma < 0 ? '' : rest.slice(comma);
    }
    entries.push({ type, value });
    if (rest.startsWith(', ')) rest = rest.slice(2);
    else if (rest.length > 0) throw new TypeError('malformed subjectAltName');
  }
  return entries;
}

export function verifyPeer(cert: X509Certificate, requirements: PeerRequirements): PeerVerdict {
  if (cert.ca) return { ok: false, reason: 'peer certificate is a CA certificate' };
  const usages = cert.keyUsage ?? [];
  if (!usages.includes(EKU[requirements.role])) {
    return { ok: false, reason: `peer certificate lacks the ${requirements.role}Auth extended key usage` };
  }
  let names: { type: string; value: string }[];
  try {
    names = parseSubjectAltNames(cert.subjectAltName);
  } catch {
    return { ok: false, reason: 'peer certificate has a malformed subjectAltName' };
  }
  const uris = names.filter((name) => name.type === 'URI');
  if (uris.length !== 1)
    return { ok: false, reason: `peer certificate has ${uris.length} URI SANs, not exactly one` };
  let id: SpiffeId;
  try {
    id = parseSpiffeId(uris[0]!.value);
  } catch (error) {
    if (isLanyardError(error)) return { ok: false, reason: 'peer URI SAN is not a valid SPIFFE ID' };
    throw error;
  }
  if (!requirements.trustDomains.has(id.trustDomain)) {
    return { ok: false, reason: `peer trust domain "${id.trustDomain}" is not trusted` };
  }
  if (requirements.expectedId !== undefined && id.toString() !== requirements.expectedId) {
    return { ok: false, reason: `peer is ${id.toString()}, expected ${requirements.expectedId}` };
  }
  return { ok: true, id };
}

/**
 * Whether a certificate was issued by one of `issuers` and is valid at `now`. For servers whose
 * TLS layer accepts client certificates without verifying them (gRPC with optional client
 * certificates): there, an unverified certificate must never be taken as an identity.
 */
export function issuedByAny(
  cert: X509Certificate,
  issuers: readonly X509Certificate[],
  now: number,
): boolean {
  const valid = Date.parse(cert.validFrom) <= now && now < Date.parse(cert.validTo);
  return valid && issuers.some((issuer) => cert.checkIssued(issuer) && cert.verify(issuer.publicKey));
}

/**
 * A TLS client's checkServerIdentity for a mesh destination: the server's identity is its
 * SPIFFE ID, not a DNS name, and it must be exactly the one expected.
 */
export function serverSpiffeIdCheck(
  expectedId: string,
  trustDomains: () => ReadonlySet<string>,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const verdict = verifyPeer(new X509Certificate(cert.raw), {
      trustDomains: trustDomains(),
      role: 'server',
      expectedId,
    });
    return verdict.ok ? undefined : new Error(verdict.reason);
  };
}
