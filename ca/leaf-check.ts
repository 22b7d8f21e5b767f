// The check every issued leaf passes before it leaves the CA. It re-reads the finished DER with
// the strict reader of der.ts, field by field, and shares nothing with the template builder
// (leaf-template.ts) but the reader: a builder bug cannot hide behind the same code twice.
// It replaces a native parse per leaf, which on OpenSSL 3.0 costs more than the three signature
// operations of an issuance together; the signer's probe (issue.ts, probeSigner) keeps the
// native parser in the loop once per signer instead.
import { verify } from 'node:crypto';
import { bytesOf, children, contentOf, oidToString, readElement, TAG, type Element } from './der.ts';
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

const SIGNATURE_HASHES: Readonly<Record<string, { hash: string; key: string }>> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', key: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', key: 'ec' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', key: 'rsa' },
};

const SAN = '2.5.29.17';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const EXTENDED_KEY_USAGE = '2.5.29.37';
const AUTHORITY_KEY_ID = '2.5.29.35';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

// Exact encodings, written out here rather than taken from the builder.
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

/** Runs one check; DER that the strict reader refuses fails that check. */
function guard<T>(check: LeafCheck, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof RangeError) refuse(check);
    throw error;
  }
}

/** The single element that an extension's OCTET STRING holds, with nothing after it. */
function only(value: Buffer, check: LeafCheck): Element {
  const element = readElement(value, 0);
  if (element.end !== value.length) refuse(check);
  return element;
}

const DIGITS = /^[0-9]+Z$/;

/** A UTCTime or GeneralizedTime of RFC 5280 4.1.2.5 (seconds, `Z`), in ms; NaN if not one. */
function timeOf(der: Buffer, element: Element): number {
  const text = contentOf(der, element).toString('latin1');
  let year: number;
  let rest: string;
  if (element.tag === TAG.UTC_TIME && text.length === 13) {
    const yy = Number(text.slice(0, 2));
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    rest = text.slice(2);
  } else if (element.tag === TAG.GENERALIZED_TIME && text.length === 15) {
    year = Number(text.slice(0, 4));
    // RFC 5280: years before 2050 must be UTCTime.
    if (year < 2050) return NaN;
    rest = text.slice(4);
  } else {
    return NaN;
  }
  if (!DIGITS.test(text)) return NaN;
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((at) => Number(rest.slice(at, at + 2)));
  const ms = Date.UTC(year, month! - 1, day, hour, minute, second);
  const date = new Date(ms);
  // Date.UTC rolls over out-of-range fields (month 13, second 60); a real time reads back alike.
  const same =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month! - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  return same ? ms : NaN;
}

function checkSerial(content: Buffer, expected: Buffer): void {
  // Positive and minimal, at most 20 bytes (RFC 5280 4.1.2.2), and the one that was drawn.
  if (content.length === 0 || content.length > 20 || content[0]! >= 0x80) refuse('serial');
  if (content.length > 1 && content[0] === 0 && content[1]! < 0x80) refuse('serial');
  if (!content.equals(expected)) refuse('serial');
}

function checkValidity(der: Buffer, validity: Element, issuer: LeafIssuer, expected: LeafFields): void {
  const times = guard('validity', () => children(der, validity));
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
  const ids = purposes.map((purpose) => {
    if (purpose.tag !== TAG.OID) refuse('eku');
    return oidToString(contentOf(value, purpose));
  });
  if (!ids.includes(SERVER_AUTH) || !ids.includes(CLIENT_AUTH)) refuse('eku');
}

function checkAuthorityKeyId(value: Buffer, keyId: Buffer): void {
  const sequence = only(value, 'authority-key-id');
  const [id, ...more] = children(value, sequence);
  if (sequence.tag !== TAG.SEQUENCE || !id || more.length > 0 || id.tag !== KEY_IDENTIFIER) {
    refuse('authority-key-id');
  }
  if (!contentOf(value, id).equals(keyId)) refuse('authority-key-id');
}

/** Each extension once, with the criticality and value an X.509-SVID of this CA must have. */
function checkExtensions(der: Buffer, wrapper: Element, issuer: LeafIssuer, expected: LeafFields): void {
  if (wrapper.tag !== 0xa3) refuse('extensions');
  const list = guard('extensions', () => readElement(der, wrapper.contentStart, wrapper.end));
  if (list.tag !== TAG.SEQUENCE || list.end !== wrapper.end) refuse('extensions');
  const seen = new Set<string>();
  for (const extension of guard('extensions', () => children(der, list))) {
    const parts = guard('extensions', () => children(der, extension));
    if (extension.tag !== TAG.SEQUENCE || parts.length < 2 || parts.length > 3) refuse('extensions');
    const [id, flag] = parts;
    const octets = parts.at(-1)!;
    if (id!.tag !== TAG.OID || octets.tag !== TAG.OCTET_STRING) refuse('extensions');
    // DER omits the FALSE default, so a present flag must be TRUE.
    if (parts.length === 3 && !bytesOf(der, flag!).equals(BOOLEAN_TRUE)) refuse('extensions');
    const critical = parts.length === 3;
    const oid = guard('extensions', () => oidToString(contentOf(der, id!)));
    if (seen.has(oid)) refuse('extensions');
    seen.add(oid);
    const value = contentOf(der, octets);
    switch (oid) {
      case SAN:
        // Critical because the subject is empty (RFC 5280 4.2.1.6).
        if (!critical) refuse('san');
        guard('san', () => checkSan(value, expected.spiffeId));
        break;
      case BASIC_CONSTRAINTS:
        if (!critical || !value.equals(NOT_A_CA)) refuse('basic-constraints');
        break;
      case KEY_USAGE:
        if (!critical || !value.equals(DIGITAL_SIGNATURE_ONLY)) refuse('key-usage');
        break;
      case EXTENDED_KEY_USAGE:
        if (critical) refuse('eku');
        guard('eku', () => checkEku(value));
        break;
      case AUTHORITY_KEY_ID: {
        const keyId = issuer.template.authorityKeyId;
        if (critical || !keyId) refuse('authority-key-id');
        guard('authority-key-id', () => checkAuthorityKeyId(value, keyId));
        break;
      }
      default:
        refuse('extensions');
    }
  }
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
  const scheme = guard('signature-algorithm', () => {
    const [id] = children(der, outer);
    return id?.tag === TAG.OID ? SIGNATURE_HASHES[oidToString(contentOf(der, id))] : undefined;
  });
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
 * the issuer name and authority key id; the validity (also within the issuer's); the empty subject;
 * the SPKI from the CSR; exactly one URI SAN, the SPIFFE ID; CA:false; key usage
 * digitalSignature only; EKU serverAuth + clientAuth; and nothing else. Throws
 * ERR_CA_ISSUED_CERT_INVALID naming the check that failed.
 */
export function checkLeaf(issuer: LeafIssuer, der: Buffer, expected: LeafFields): void {
  try {
    guard('structure', () => check(issuer, der, expected));
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    throw caError('ERR_CA_ISSUED_CERT_INVALID', 'the CA refused to return a certificate it issued', {
      check: error.check,
    });
  }
}
