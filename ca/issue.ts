import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import type { WorkloadIdentity } from '../lib/spiffe.ts';
import { workloadSpiffeId } from '../lib/spiffe.ts';
import { verifyCsrSignature, type ParsedCsr } from './csr.ts';
import { CaError, caError } from './errors.ts';
import { checkLeaf } from './leaf-check.ts';
import { certificate, leafTbs, type LeafFields } from './leaf-template.ts';
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
  readonly notBefore: number;
  readonly notAfter: number;
}

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
 * Builds, signs and checks one X.509-SVID. The CSR's proof of possession is verified first, so
 * nothing is signed for a key the caller does not hold; nothing leaves unless checkLeaf passes.
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
  verifyCsrSignature(request.csr);
  const der = signLeaf(signer, { serial: serial(), notBefore, notAfter, spki: request.csr.spki, spiffeId });
  return { spiffeId, der, notBefore, notAfter };
}

/** Fills the signer's template, signs it, and checks the result (leaf-check.ts) before returning it. */
function signLeaf(signer: Signer, fields: LeafFields): Buffer {
  const tbs = leafTbs(signer.template, signer.constantExtensions, fields);
  const signature = sign(signer.template.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
  const der = certificate(tbs, signer.template.signatureAlgorithm, signature);
  checkLeaf(signer, der, fields);
  return der;
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const PROBE_ID = 'spiffe://probe.lanyard.invalid/ns/probe/sa/probe';

function probeFailed(check: string, cause?: unknown): never {
  throw new CaError(
    'ERR_CA_KEY_MATERIAL_INVALID',
    'the CA key material yields certificates that fail their check',
    { probe: check },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Issues one leaf from a signer's template, through the same path as every leaf, and reads it
 * back with the native parser: a template that OpenSSL would refuse (or that checkLeaf would
 * accept while OpenSSL disagrees) never signs anything. Runs once per loaded signer, so the
 * per-leaf check can do without the native parse.
 */
export function probeSigner(signer: Signer): void {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const notBefore = seconds(Date.parse(signer.cert.validFrom));
  const notAfter = seconds(signer.notAfter);
  let der: Buffer;
  try {
    der = signLeaf(signer, {
      serial: serial(),
      notBefore,
      notAfter,
      spki: publicKey.export({ type: 'spki', format: 'der' }),
      spiffeId: PROBE_ID,
    });
  } catch (error) {
    probeFailed('leaf-check', error);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (error) {
    probeFailed('parse', error);
  }
  if (!cert.checkIssued(signer.cert)) probeFailed('issuer');
  if (!cert.verify(signer.publicKey)) probeFailed('signature');
  if (!cert.publicKey.equals(publicKey)) probeFailed('spki');
  if (cert.subjectAltName !== `URI:${PROBE_ID}`) probeFailed('san');
  if (cert.ca) probeFailed('basic-constraints');
  const purposes = cert.keyUsage ?? [];
  if (purposes.length !== 2 || !purposes.includes(SERVER_AUTH) || !purposes.includes(CLIENT_AUTH)) {
    probeFailed('eku');
  }
  if (Date.parse(cert.validFrom) !== notBefore || Date.parse(cert.validTo) !== notAfter) {
    probeFailed('validity');
  }
}
