// The X.509-SVID leaf as a fixed DER template: the constant parts are encoded once per signing
// CA, and only serial, validity, key and SPIFFE ID are filled per request.
import { headerSize, oid, sequence, TAG, time, tlv, writeHeader } from '../lib/der.ts';

/** The parts of a leaf that depend only on the CA that signs it. */
export interface LeafTemplate {
  /** AlgorithmIdentifier of the CA's signature, DER. */
  readonly signatureAlgorithm: Buffer;
  /** The digest that goes with it, for node:crypto sign(). */
  readonly hash: string;
  /** The CA's subject Name, DER, which becomes the leaf's issuer. */
  readonly issuerName: Buffer;
  /** The CA's subject key identifier, if it has one, for the leaf's authority key identifier. */
  readonly authorityKeyId?: Buffer;
}

const VERSION_3 = tlv(0xa0, tlv(TAG.INTEGER, Buffer.of(2)));
// SPIFFE X.509-SVIDs: an empty subject is allowed because the URI SAN is critical (RFC 5280 4.2.1.6).
const EMPTY_NAME = sequence();
const CRITICAL = tlv(0x01, Buffer.of(0xff));

const extension = (id: string | Buffer, critical: boolean, value: Buffer) =>
  sequence(
    typeof id === 'string' ? oid(id) : id,
    ...(critical ? [CRITICAL] : []),
    tlv(TAG.OCTET_STRING, value),
  );
const SAN_OID = oid('2.5.29.17');

const BASIC_CONSTRAINTS_LEAF = extension('2.5.29.19', true, sequence());
// KeyUsage BIT STRING: 7 unused bits, bit 0 (digitalSignature) set.
const KEY_USAGE_DIGITAL_SIGNATURE = extension('2.5.29.15', true, tlv(TAG.BIT_STRING, Buffer.of(7, 0x80)));
const EKU_SERVER_CLIENT = extension(
  '2.5.29.37',
  false,
  sequence(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')),
);

export const SIGNATURE_ALGORITHMS = Object.freeze({
  'ecdsa-sha256': { der: sequence(oid('1.2.840.10045.4.3.2')), hash: 'sha256' },
  'ecdsa-sha384': { der: sequence(oid('1.2.840.10045.4.3.3')), hash: 'sha384' },
  'rsa-sha256': { der: sequence(oid('1.2.840.113549.1.1.11'), tlv(TAG.NULL)), hash: 'sha256' },
});

export interface LeafFields {
  /** The serial number's content bytes: positive and minimal (first byte 0x01..0x7f). */
  readonly serial: Buffer;
  readonly notBefore: number;
  readonly notAfter: number;
  /** SubjectPublicKeyInfo, DER, from the verified CSR. */
  readonly spki: Buffer;
  readonly spiffeId: string;
}

/** Extensions that are the same for every leaf of one CA, encoded once. */
export function constantExtensions(template: LeafTemplate): Buffer {
  const aki = template.authorityKeyId
    ? [extension('2.5.29.35', false, sequence(tlv(0x80, template.authorityKeyId)))]
    : [];
  return Buffer.concat([BASIC_CONSTRAINTS_LEAF, KEY_USAGE_DIGITAL_SIGNATURE, EKU_SERVER_CLIENT, ...aki]);
}

/** The TBSCertificate of one leaf: the bytes the CA signs, written into one buffer. */
export function leafTbs(template: LeafTemplate, constant: Buffer, fields: LeafFields): Buffer {
  const notBefore = time(fields.notBefore);
  const notAfter = time(fields.notAfter);
  const id = Buffer.from(fields.spiffeId, 'latin1');
  // Sizes from the inside out. SAN: exactly one uniformResourceIdentifier ([6] IA5String).
  const names = headerSize(id.length) + id.length;
  const sanValue = headerSize(names) + names;
  const san = SAN_OID.length + CRITICAL.length + headerSize(sanValue) + sanValue;
  const extensions = constant.length + headerSize(san) + san;
  const explicit = headerSize(extensions) + extensions;
  const validity = notBefore.length + notAfter.length;
  const tbs =
    VERSION_3.length +
    headerSize(fields.serial.length) +
    fields.serial.length +
    template.signatureAlgorithm.length +
    template.issuerName.length +
    headerSize(validity) +
    validity +
    EMPTY_NAME.length +
    fields.spki.length +
    headerSize(explicit) +
    explicit;
  const out = Buffer.allocUnsafe(headerSize(tbs) + tbs);
  let at = writeHeader(out, 0, TAG.SEQUENCE, tbs);
  const put = (bytes: Buffer) => {
    at += bytes.copy(out, at);
  };
  put(VERSION_3);
  at = writeHeader(out, at, TAG.INTEGER, fields.serial.length);
  put(fields.serial);
  put(template.signatureAlgorithm);
  put(template.issuerName);
  at = writeHeader(out, at, TAG.SEQUENCE, validity);
  put(notBefore);
  put(notAfter);
  put(EMPTY_NAME);
  put(fields.spki);
  at = writeHeader(out, at, 0xa3, explicit);
  at = writeHeader(out, at, TAG.SEQUENCE, extensions);
  put(constant);
  at = writeHeader(out, at, TAG.SEQUENCE, san);
  put(SAN_OID);
  put(CRITICAL);
  at = writeHeader(out, at, TAG.OCTET_STRING, sanValue);
  at = writeHeader(out, at, TAG.SEQUENCE, names);
  at = writeHeader(out, at, 0x86, id.length);
  put(id);
  if (at !== out.length) throw new RangeError('DER: leaf size mismatch');
  return out;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }. */
export function certificate(tbs: Buffer, signatureAlgorithm: Buffer, signature: Buffer): Buffer {
  return sequence(tbs, signatureAlgorithm, tlv(TAG.BIT_STRING, Buffer.of(0), signature));
}
