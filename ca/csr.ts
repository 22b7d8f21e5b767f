import { verify, type VerifyJsonWebKeyInput, type VerifyPublicKeyInput } from 'node:crypto';
import {
  bytesOf,
  children,
  contentOf,
  oid,
  oidToString,
  readElement,
  TAG,
  type Element,
} from '../lib/der.ts';
import { caError } from './errors.ts';

/**
 * A structurally valid PKCS#10 CSR whose key type and size are acceptable and whose key is in
 * canonical form. Its signature is checked by verifyCsrSignature, which decodes the key.
 * Names, attributes and extensions are never read: identity comes from the caller.
 */
export interface ParsedCsr {
  /** The SubjectPublicKeyInfo, DER, copied verbatim into the leaf. */
  readonly spki: Buffer;
  readonly keyType: 'ec' | 'rsa';
  /** The curve of an EC key, by its JWK name. */
  readonly curve?: Curve;
  /** The signed CertificationRequestInfo. */
  readonly info: Buffer;
  readonly hash: string;
  readonly signature: Buffer;
}

export const DEFAULT_MAX_CSR_BYTES = 8192;

type VerifyKeyWithOptions = VerifyPublicKeyInput | VerifyJsonWebKeyInput;

// Tables by dotted OID, looked up by the OID's content bytes (hex): cheaper than decoding them.
const byContent = <T>(table: Readonly<Record<string, T>>): ReadonlyMap<string, T> =>
  new Map(Object.entries(table).map(([dotted, value]) => [oid(dotted).subarray(2).toString('hex'), value]));
const oidKey = (der: Buffer, element: Element) => contentOf(der, element).toString('hex');

const SIGNATURE_HASHES = byContent<{ hash: string; key: 'ec' | 'rsa' }>({
  '1.2.840.10045.4.3.2': { hash: 'sha256', key: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', key: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', key: 'ec' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', key: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', key: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', key: 'rsa' },
});

const EC_PUBLIC_KEY = oid('1.2.840.10045.2.1').subarray(2).toString('hex');
const RSA_ENCRYPTION = oid('1.2.840.113549.1.1.1').subarray(2).toString('hex');
type Curve = 'P-256' | 'P-384';
const COORDINATE_BYTES: Readonly<Record<Curve, number>> = { 'P-256': 32, 'P-384': 48 };
const ACCEPTED_CURVES = byContent<Curve>({
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
});
const UNCOMPRESSED_POINT = 0x04;
const MIN_RSA_BITS = 2048;
// A ceiling too: verifying with a huge modulus is a cheap way to burn the CA's CPU.
const MAX_RSA_BITS = 8192;

function malformed(reason: string): never {
  throw caError('ERR_CA_CSR_INVALID', 'CSR is malformed', { reason });
}

function weak(message: string, detail: Record<string, unknown>): never {
  throw caError('ERR_CA_KEY_WEAK', message, detail);
}

function rsaModulusBits(der: Buffer, keyBits: Element): number {
  const content = contentOf(der, keyBits);
  if (content[0] !== 0) malformed('public key bit string');
  const key = content.subarray(1);
  const sequence = readElement(key, 0);
  const [modulus, exponent, ...extra] = children(key, sequence);
  if (sequence.tag !== TAG.SEQUENCE || sequence.end !== key.length || extra.length > 0) malformed('RSA key');
  if (!modulus || modulus.tag !== TAG.INTEGER || exponent?.tag !== TAG.INTEGER) malformed('RSA key');
  let bytes = contentOf(key, modulus);
  while (bytes.length > 0 && bytes[0] === 0) bytes = bytes.subarray(1);
  return bytes.length === 0 ? 0 : (bytes.length - 1) * 8 + (32 - Math.clz32(bytes[0]!));
}

/**
 * Reads the key type from the SPKI and refuses anything but P-256, P-384 and RSA 2048..8192, in
 * canonical form: the SPKI is copied into the leaf verbatim, and every TLS peer must read it.
 */
function keyTypeOf(der: Buffer, spki: Element): { keyType: 'ec' | 'rsa'; curve?: Curve } {
  const [algorithm, keyBits, ...extra] = children(der, spki);
  if (!algorithm || algorithm.tag !== TAG.SEQUENCE || !keyBits || keyBits.tag !== TAG.BIT_STRING) {
    malformed('SubjectPublicKeyInfo');
  }
  if (extra.length > 0) malformed('SubjectPublicKeyInfo');
  const [id, parameters, ...more] = children(der, algorithm);
  if (!id || id.tag !== TAG.OID || more.length > 0) malformed('key algorithm');
  const keyAlgorithm = oidKey(der, id);
  if (keyAlgorithm === EC_PUBLIC_KEY) {
    const accepted = parameters?.tag === TAG.OID ? ACCEPTED_CURVES.get(oidKey(der, parameters)) : undefined;
    if (!accepted) {
      const curve = parameters?.tag === TAG.OID ? oidToString(contentOf(der, parameters)) : 'explicit';
      weak('ECDSA keys must be on P-256 or P-384', { curve });
    }
    // OpenSSL reads compressed points too, but Go's crypto/x509 (and so many peers) does not.
    const point = contentOf(der, keyBits);
    const pointBytes = 1 + 2 * COORDINATE_BYTES[accepted];
    if (point.length !== 1 + pointBytes || point[0] !== 0 || point[1] !== UNCOMPRESSED_POINT) {
      throw caError('ERR_CA_CSR_INVALID', 'CSR public key must be an uncompressed EC point', {
        curve: accepted,
        bytes: point.length - 1,
      });
    }
    return { keyType: 'ec', curve: accepted };
  }
  if (keyAlgorithm === RSA_ENCRYPTION) {
    // RFC 3279 2.3.1: the parameters are NULL, and strict readers (Go) require them.
    if (parameters?.tag !== TAG.NULL || parameters.end !== parameters.contentStart)
      malformed('RSA parameters');
    const bits = rsaModulusBits(der, keyBits);
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) weak('RSA keys must have 2048 to 8192 bits', { bits });
    return { keyType: 'rsa' };
  }
  weak('key must be ECDSA P-256, P-384 or RSA >= 2048', { algorithm: oidToString(contentOf(der, id)) });
}

function parse(der: Buffer): ParsedCsr {
  const root = readElement(der, 0);
  if (root.tag !== TAG.SEQUENCE || root.end !== der.length) malformed('not one DER SEQUENCE');
  const [info, algorithm, signature, ...extra] = children(der, root);
  if (!info || !algorithm || !signature || extra.length > 0) malformed('CertificationRequest shape');
  if (info.tag !== TAG.SEQUENCE || algorithm.tag !== TAG.SEQUENCE || signature.tag !== TAG.BIT_STRING) {
    malformed('CertificationRequest types');
  }
  const [version, subject, spki] = children(der, info);
  if (!version || version.tag !== TAG.INTEGER || !contentOf(der, version).equals(Buffer.of(0))) {
    malformed('version');
  }
  if (!subject || subject.tag !== TAG.SEQUENCE || !spki || spki.tag !== TAG.SEQUENCE)
    malformed('subject or key');
  const { keyType, curve } = keyTypeOf(der, spki);
  const [algorithmOid] = children(der, algorithm);
  if (!algorithmOid || algorithmOid.tag !== TAG.OID) malformed('signature algorithm');
  const scheme = SIGNATURE_HASHES.get(oidKey(der, algorithmOid));
  if (!scheme || scheme.key !== keyType) malformed('unsupported signature algorithm');
  const bits = contentOf(der, signature);
  if (bits.length < 2 || bits[0] !== 0) malformed('signature bit string');
  return {
    spki: Buffer.from(bytesOf(der, spki)),
    keyType,
    ...(curve ? { curve } : {}),
    info: bytesOf(der, info),
    hash: scheme.hash,
    signature: bits.subarray(1),
  };
}

/** Parses a PKCS#10 CSR (DER) and checks its size, shape and key; see ParsedCsr. */
export function parseCsr(der: Buffer, maxBytes = DEFAULT_MAX_CSR_BYTES): ParsedCsr {
  if (der.length === 0) malformed('empty');
  if (der.length > maxBytes) {
    throw caError('ERR_CA_CSR_INVALID', `CSR is larger than ${maxBytes} bytes`, { bytes: der.length });
  }
  try {
    return parse(der);
  } catch (error) {
    if (error instanceof RangeError) malformed(error.message);
    throw error;
  }
}

/**
 * The key as node:crypto decodes it most cheaply. On OpenSSL 3.0 an SPKI goes through the
 * provider decoder framework, whose setup alone costs more than an ECDSA verify; an EC key as
 * JWK coordinates skips it (OpenSSL still checks that the point is on the curve). parseCsr has
 * already held the SPKI to canonical form, so the point is its last bytes.
 */
function keyInput(csr: ParsedCsr): VerifyKeyWithOptions {
  if (!csr.curve) return { key: csr.spki, format: 'der', type: 'spki', dsaEncoding: 'der' };
  const size = COORDINATE_BYTES[csr.curve];
  const x = csr.spki.length - 2 * size;
  const key = {
    kty: 'EC',
    crv: csr.curve,
    x: csr.spki.toString('base64url', x, x + size),
    y: csr.spki.toString('base64url', x + size),
  };
  return { key, format: 'jwk', dsaEncoding: 'der' };
}

/**
 * The proof of possession: the CSR is signed by the private key of the key it carries. The key
 * is decoded once, by this verify (see keyInput).
 */
export function verifyCsrSignature(csr: ParsedCsr): void {
  let valid: boolean;
  try {
    valid = verify(csr.hash, csr.info, keyInput(csr), csr.signature);
  } catch {
    // A signature that does not verify returns false; only a key that does not decode throws.
    throw caError('ERR_CA_CSR_INVALID', 'CSR public key does not decode');
  }
  if (!valid) throw caError('ERR_CA_CSR_INVALID', 'CSR signature does not verify');
}
