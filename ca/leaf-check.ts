// The check every issued leaf passes before it leaves the CA. It re-reads the finished DER with
// the strict reader of der.ts, field by field, and shares nothing with the template builder
// (leaf-template.ts) but that reader: the encodings it expects are written out here, so a
// builder bug cannot hide behind the same code twice. It replaces a native parse per leaf, which
// on OpenSSL 3.0 costs more than the three signature operations of an issuance together; the
// signer's probe (issue.ts, probeSigner) keeps the native parser in the loop once per signer.
import { verify } from 'node:crypto';
import { bytesOf, children, contentOf, readElement, TAG, type Element } from '../lib/der.ts';
import { caError } from './errors.ts';
import type { LeafFields } from './leaf-template.ts';
import type { Signer } from './signer.ts';

/** What the check needs of the signer: its decoded key, its subject and key id, its expiry. */
export type LeafIssuer = Pick<Signer, 'publicKey' | 'template' | 'notAfter'>;

/** The name of the check that refused a leaf: the `check` of the error's detail. */
export type LeafCheck =
  | 'structure'
  | 'version'
  | 'serial'
  | 'signature-algorithm'
  | 'issuer'
  | 'validity'
  | 'subject'
  | 'spki'
  | 'extensions'
  | 'san'
  | 'basic-constraints'
  | 'key-usage'
  | 'eku'
  | 'authority-key-id'
  | 'signature';

// AlgorithmIdentifier encodings (RFC 5758 3.2: ECDSA without parameters; RFC 4055: RSA, NULL).
const SIGNATURE_ALGORITHMS: ReadonlyMap<string, { hash: string; key: string }> = new Map([
  ['300a06082a8648ce3d040302', { hash: 'sha256', key: 'ec' }],
  ['300a06082a8648ce3d040303', { hash: 'sha384', key: 'ec' }],
  ['300d06092a864886f70d01010b0500', { hash: 'sha256', key: 'rsa' }],
]);

// Certificate extensions live under id-ce (2.5.29 = 55 1d); the last OID byte tells them apart.
const ID_CE = Buffer.of(0x55, 0x1d);
const SAN = 17;
const BASIC_CONSTRAINTS = 19;
const KEY_USAGE = 15;
const EXTENDED_KEY_USAGE = 37;
const AUTHORITY_KEY_ID = 35;
// id-kp-serverAuth (1.3.6.1.5.5.7.3.1) and id-kp-clientAuth (...3.2), OID content bytes.
const SERVER_AUTH = Buffer.from('2b06010505070301', 'hex');
const CLIENT_AUTH = Buffer.from('2b06010505070302', 'hex');

const VERSION_3 = Buffer.of(0xa0, 0x03, 0x02, 0x01, 0x02);
const EMPTY_NAME = Buffer.of(0x30, 0x00);
// BasicConstraints with cA absent (DER omits the FALSE default) and no path length.
const NOT_A_CA = Buffer.of(0x30, 0x00);
// KeyUsage: 7 unused bits, only digitalSignature (bit 0) set.
const DIGITAL_SIGNATURE_ONLY = Buffer.of(0x03, 0x02, 0x07, 0x80);
const GENERAL_NAME_URI = 0x86;
const KEY_IDENTIFIER = 0x80;
const BOOLEAN_TRUE = Buffer.of(0x01, 0x01, 0xff);

class Refused extends Error {
  constructor(readonly check: LeafCheck) {
    super(check);
  }
}

function refuse(check: LeafCheck): never {
  throw new Refused(check);
}

/** DER that the strict reader refuses fails the check that was reading it. */
function rethrow(error: unknown, check: LeafCheck): never {
  if (error instanceof RangeError) refuse(check);
  throw error;
}

/** The single element that an extension's OCTET STRING holds, with nothing after it. */
function only(value: Buffer, check: LeafCheck): Element {
  const element = readElement(value, 0);
  if (element.end !== value.length) refuse(check);
  return element;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** Two ASCII digits at `at`, or NaN. */
function twoDigits(bytes: Buffer, at: number): number {
  const high = bytes[at]! - 0x30;
  const low = bytes[at + 1]! - 0x30;
  return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : NaN;
}

/** A UTCTime or GeneralizedTime as RFC 5280 4.1.2.5 allows them (seconds, `Z`), in ms; else NaN. */
function timeOf(der: Buffer, element: Element): number {
  const text = contentOf(der, element);
  let year: number;
  let at: number;
  if (element.tag === TAG.UTC_TIME && text.length === 13) {
    const yy = twoDigits(text, 0);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    at = 2;
  } else if (element.tag === TAG.GENERALIZED_TIME && text.length === 15) {
    year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
    // Years before 2050 must be UTCTime.
    if (!(year >= 2050)) return NaN;
    at = 4;
  } else {
    return NaN;
  }
  if (text[at + 10] !== 0x5a) return NaN;
  const month = twoDigits(text, at);
  const day = twoDigits(text, at + 2);
  const hour = twoDigits(text, at + 4);
  const minute = twoDigits(text, at + 6);
  const second = twoDigits(text, at + 8);
  // Range checks, not Date.UTC's rollover: 24:00:00 or the 31st of April is not a time.
  if (!(month >= 1 && month <= 12 && day >= 1 && hour <= 23 && minute <= 59 && second <= 59)) return NaN;
  const days = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day > days) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

function checkSerial(content: Buffer, expected: Buffer): void {
  // Positive and minimal, at most 20 bytes (RFC 5280 4.1.2.2), and the one that was drawn.
  if (content.length === 0 || content.length > 20 || content[0]! >= 0x80) refuse('serial');
  if (content.length > 1 && content[0] === 0 && content[1]! < 0x80) refuse('serial');
  if (!content.equals(expected)) refuse('serial');
}

function checkValidity(der: Buffer, validity: Element, issuer: LeafIssuer, expected: LeafFields): void {
  let times: Element[];
  try {
    times = children(der, validity);
  } catch (error) {
    rethrow(error, 'validity');
  }
  if (validity.tag !== TAG.SEQUENCE || times.length !== 2) refuse('validity');
  const notBefore = timeOf(der, times[0]!);
  const notAfter = timeOf(der, times[1]!);
  if (notBefore !== expected.notBefore || notAfter !== expected.notAfter) refuse('validity');
  if (!(notBefore < notAfter) || notAfter > issuer.notAfter) refuse('validity');
}

function checkSan(value: Buffer, spiffeId: string): void {
  const names = only(value, 'san');
  const [name, ...more] = children(value, names);
  if (names.tag !== TAG.SEQUENCE || !name || more.length > 0 || name.tag !== GENERAL_NAME_URI) {
    refuse('san');
  }
  if (contentOf(value, name).toString('latin1') !== spiffeId) refuse('san');
}

function checkEku(value: Buffer): void {
  const sequence = only(value, 'eku');
  const purposes = children(value, sequence);
  if (sequence.tag !== TAG.SEQUENCE || purposes.length !== 2) refuse('eku');
  if (purposes[0]!.tag !== TAG.OID || purposes[1]!.tag !== TAG.OID) refuse('eku');
  const first = contentOf(value, purposes[0]!);
  const second = contentOf(value, purposes[1]!);
  const both =
    (first.equals(SERVER_AUTH) && second.equals(CLIENT_AUTH)) ||
    (first.equals(CLIENT_AUTH) && second.equals(SERVER_AUTH));
  if (!both) refuse('eku');
}

function checkAuthorityKeyId(value: Buffer, keyId: Buffer): void {
  const sequence = only(value, 'authority-key-id');
  const [id, ...more] = children(value, sequence);
  if (sequence.tag !== TAG.SEQUENCE || !id || more.length > 0 || id.tag !== KEY_IDENTIFIER) {
    refuse('authority-key-id');
  }
  if (!contentOf(value, id).equals(keyId)) refuse('authority-key-id');
}

/** One extension: the check its value must pass, given the extension's id-ce number. */
function checkExtension(
  kind: number,
  critical: boolean,
  value: Buffer,
  issuer: LeafIssuer,
  expected: LeafFields,
) {
  switch (kind) {
    case SAN:
      // Critical because the subject is empty (RFC 5280 4.2.1.6).
      if (!critical) refuse('san');
      try {
        checkSan(value, expected.spiffeId);
      } catch (error) {
        rethrow(error, 'san');
      }
      return;
    case BASIC_CONSTRAINTS:
      if (!critical || !value.equals(NOT_A_CA)) refuse('basic-constraints');
      return;
    case KEY_USAGE:
      if (!critical || !value.equals(DIGITAL_SIGNATURE_ONLY)) refuse('key-usage');
      return;
    case EXTENDED_KEY_USAGE:
      if (critical) refuse('eku');
      try {
        checkEku(value);
      } catch (error) {
        rethrow(error, 'eku');
      }
      return;
    case AUTHORITY_KEY_ID: {
      const keyId = issuer.template.authorityKeyId;
      if (critical || !keyId) refuse('authority-key-id');
      try {
        checkAuthorityKeyId(value, keyId);
      } catch (error) {
        rethrow(error, 'authority-key-id');
      }
      return;
    }
    default:
      refuse('extensions');
  }
}

/** Each extension once, with the criticality and value an X.509-SVID of this CA must have. */
function checkExtensions(der: Buffer, wrapper: Element, issuer: LeafIssuer, expected: LeafFields): void {
  if (wrapper.tag !== 0xa3) refuse('extensions');
  const seen = new Set<number>();
  const found: { kind: number; critical: boolean; value: Buffer }[] = [];
  try {
    const list = readElement(der, wrapper.contentStart, wrapper.end);
    if (list.tag !== TAG.SEQUENCE || list.end !== wrapper.end) refuse('extensions');
    for (const extension of children(der, list)) {
      const parts = children(der, extension);
      if (extension.tag !== TAG.SEQUENCE || parts.length < 2 || parts.length > 3) refuse('extensions');
      const id = parts[0]!;
      const octets = parts[parts.length - 1]!;
      if (id.tag !== TAG.OID || octets.tag !== TAG.OCTET_STRING) refuse('extensions');
      // DER omits the FALSE default, so a present flag must be TRUE.
      const critical = parts.length === 3;
      if (critical && !bytesOf(der, parts[1]!).equals(BOOLEAN_TRUE)) refuse('extensions');
      const oid = contentOf(der, id);
      if (oid.length !== 3 || oid[0] !== ID_CE[0] || oid[1] !== ID_CE[1]) refuse('extensions');
      const kind = oid[2]!;
      if (seen.has(kind)) refuse('extensions');
      seen.add(kind);
      found.push({ kind, critical, value: contentOf(der, octets) });
    }
  } catch (error) {
    rethrow(error, 'extensions');
  }
  for (const { kind, critical, value } of found) checkExtension(kind, critical, value, issuer, expected);
  if (!seen.has(SAN)) refuse('san');
  if (!seen.has(BASIC_CONSTRAINTS)) refuse('basic-constraints');
  if (!seen.has(KEY_USAGE)) refuse('key-usage');
  if (!seen.has(EXTENDED_KEY_USAGE)) refuse('eku');
  if (issuer.template.authorityKeyId && !seen.has(AUTHORITY_KEY_ID)) refuse('authority-key-id');
}

/** The signature hash that the certificate names, once it is known to match the issuer's key. */
function signatureHash(der: Buffer, inner: Element, outer: Element, issuer: LeafIssuer): string {
  const algorithm = bytesOf(der, outer);
  if (!bytesOf(der, inner).equals(algorithm) || !algorithm.equals(issuer.template.signatureAlgorithm)) {
    refuse('signature-algorithm');
  }
  const scheme = SIGNATURE_ALGORITHMS.get(algorithm.toString('hex'));
  if (!scheme || scheme.key !== issuer.publicKey.asymmetricKeyType) refuse('signature-algorithm');
  return scheme.hash;
}

function check(issuer: LeafIssuer, der: Buffer, expected: LeafFields): void {
  const root = readElement(der, 0);
  if (root.tag !== TAG.SEQUENCE || root.end !== der.length) refuse('structure');
  const parts = children(der, root);
  if (parts.length !== 3) refuse('structure');
  const [tbs, algorithm, signatureBits] = parts as [Element, Element, Element];
  if (tbs.tag !== TAG.SEQUENCE || algorithm.tag !== TAG.SEQUENCE || signatureBits.tag !== TAG.BIT_STRING) {
    refuse('structure');
  }
  const fields = children(der, tbs);
  // version, serial, signature, issuer, validity, subject, spki, extensions: no unique IDs.
  if (fields.length !== 8) refuse('structure');
  const [version, serial, innerAlgorithm, issuerName, validity, subject, spki, extensions] = fields as [
    Element,
    Element,
    Element,
    Element,
    Element,
    Element,
    Element,
    Element,
  ];
  if (!bytesOf(der, version).equals(VERSION_3)) refuse('version');
  if (serial.tag !== TAG.INTEGER) refuse('serial');
  checkSerial(contentOf(der, serial), expected.serial);
  const hash = signatureHash(der, innerAlgorithm, algorithm, issuer);
  if (!bytesOf(der, issuerName).equals(issuer.template.issuerName)) refuse('issuer');
  checkValidity(der, validity, issuer, expected);
  if (!bytesOf(der, subject).equals(EMPTY_NAME)) refuse('subject');
  if (!bytesOf(der, spki).equals(expected.spki)) refuse('spki');
  checkExtensions(der, extensions, issuer, expected);
  const bits = contentOf(der, signatureBits);
  if (bits.length < 2 || bits[0] !== 0) refuse('structure');
  let valid: boolean;
  try {
    valid = verify(hash, bytesOf(der, tbs), { key: issuer.publicKey, dsaEncoding: 'der' }, bits.subarray(1));
  } catch {
    valid = false;
  }
  if (!valid) refuse('signature');
}

/**
 * Checks an issued leaf, DER, against what was meant to be issued: exactly tbs + algorithm +
 * signature with no trailing bytes; the signature over the exact TBS bytes with the issuer's key;
 * the issuer name and authority key id; the validity (also within the issuer's); the empty
 * subject; the SPKI from the CSR; exactly one URI SAN, the SPIFFE ID; CA:false; key usage
 * digitalSignature only; EKU serverAuth + clientAuth; and no other extension. Throws
 * ERR_CA_ISSUED_CERT_INVALID naming the check that failed.
 */
export function checkLeaf(issuer: LeafIssuer, der: Buffer, expected: LeafFields): void {
  try {
    check(issuer, der, expected);
  } catch (error) {
    const refused = error instanceof RangeError ? new Refused('structure') : error;
    if (!(refused instanceof Refused)) throw error;
    throw caError('ERR_CA_ISSUED_CERT_INVALID', 'the CA refused to return a certificate it issued', {
      check: refused.check,
    });
  }
}
