import { randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import type { WorkloadIdentity } from '../lib/spiffe.ts';
import { workloadSpiffeId } from '../lib/spiffe.ts';
import { verifyCsrSignature, type ParsedCsr } from './csr.ts';
import { caError } from './errors.ts';
import { certificate, leafTbs } from './leaf-template.ts';
import type { Signer } from './signer.ts';
import { clampTtl, type TtlPolicy } from './ttl.ts';

export interface IssueRequest {
  readonly csr: ParsedCsr;
  /** The authenticated caller's identity: the only source of the SPIFFE ID. */
  readonly identity: WorkloadIdentity;
  readonly ttlMs?: number;
  readonly now: number;
}

export interface IssuedLeaf {
  readonly spiffeId: string;
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly notBefore: number;
  readonly notAfter: number;
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

// Random bytes drawn in bulk: one call to the system RNG per 256 serials, not per serial.
const SERIAL_BYTES = 16;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function serial(): Buffer {
  if (poolOffset + SERIAL_BYTES > pool.length) {
    pool = randomBytes(SERIAL_BYTES * 256);
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + SERIAL_BYTES));
  poolOffset += SERIAL_BYTES;
  // Positive, minimal and always 16 bytes long.
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes;
}

const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;

/**
 * Builds, signs and checks one X.509-SVID. The CSR's proof of possession is verified with the
 * key that the leaf's native parse decodes, so the key is decoded once, not twice (the decode
 * costs as much as a signature); nothing leaves this function unless that proof holds.
 */
export function issueLeaf(signer: Signer, policy: TtlPolicy, request: IssueRequest): IssuedLeaf {
  const spiffeId = workloadSpiffeId(request.identity).toString();
  const notBefore = seconds(request.now - policy.skewMs);
  const notAfter = seconds(Math.min(request.now + clampTtl(policy, request.ttlMs), signer.notAfter));
  if (notAfter <= request.now) {
    throw caError('ERR_CA_UNAVAILABLE', 'the CA certificate has expired', {
      signerNotAfter: signer.notAfter,
    });
  }
  const tbs = leafTbs(signer.template, signer.constantExtensions, {
    serial: serial(),
    notBefore,
    notAfter,
    spki: request.csr.spki,
    spiffeId,
  });
  const signature = sign(signer.template.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
  const der = certificate(tbs, signer.template.signatureAlgorithm, signature);
  const cert = checkLeaf(signer, der, { spiffeId, notBefore, notAfter, csr: request.csr });
  return { spiffeId, der, cert, notBefore, notAfter };
}

interface Expected {
  readonly spiffeId: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly csr: ParsedCsr;
}

function refuse(check: string): never {
  throw caError('ERR_CA_ISSUED_CERT_INVALID', 'the CA refused to return a certificate it issued', { check });
}

/**
 * Parses an issued leaf back with the native parser and checks it before it leaves the CA:
 * the CSR's signature against the leaf's key, the leaf's signature and issuer, the one URI SAN,
 * validity and constraints.
 */
export function checkLeaf(signer: Signer, der: Buffer, expected: Expected): X509Certificate {
  let cert: X509Certificate;
  let publicKey: KeyObject;
  try {
    cert = new X509Certificate(der);
    publicKey = cert.publicKey;
  } catch {
    // The template is fixed; only the caller's SPKI can make the parse fail.
    throw caError('ERR_CA_CSR_INVALID', 'CSR public key does not decode');
  }
  verifyCsrSignature(expected.csr, publicKey);
  if (!cert.checkIssued(signer.cert) || !cert.verify(signer.publicKey)) refuse('chain');
  if (cert.subjectAltName !== `URI:${expected.spiffeId}`) refuse('san');
  if (cert.ca) refuse('basic-constraints');
  const usages = cert.keyUsage ?? [];
  if (usages.length !== 2 || !usages.includes(SERVER_AUTH) || !usages.includes(CLIENT_AUTH)) refuse('eku');
  if (Date.parse(cert.validFrom) !== expected.notBefore || Date.parse(cert.validTo) !== expected.notAfter) {
    refuse('validity');
  }
  return cert;
}
