// TLS server certificates with DNS (and IP) SANs for the control plane's own HTTPS endpoints,
// such as the injection webhook. An internal path beside workload issuance, never reachable
// over the gRPC API: the caller is the control plane itself, and the names come from its
// configuration, never from a request. The certificate carries no URI SAN, so no sidecar can
// take it for a workload identity, and only serverAuth, so it cannot act as an mTLS client.
import { randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { oid, sequence, TAG, time, tlv } from '../lib/der.ts';
import { caError } from './errors.ts';
import { certificate } from './leaf-template.ts';
import type { Signer } from './signer.ts';

export interface ServingCertRequest {
  /** DNS names, lowercase; the first is also the subject's common name. */
  readonly dnsNames: readonly string[];
  /** IP addresses, for endpoints reached by address (tests on loopback). */
  readonly ipAddresses?: readonly string[];
  /** The serving key's public half. */
  readonly publicKey: KeyObject;
  readonly now: number;
  readonly ttlMs: number;
}

export interface IssuedServingCert {
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly notBefore: number;
  readonly notAfter: number;
}

export const MAX_SERVING_NAMES = 16;
/** Bounds of a serving certificate's lifetime. */
export const SERVING_TTL_BOUNDS = Object.freeze({ minMs: 10 * 60_000, maxMs: 30 * 24 * 3600_000 });
const SKEW_MS = 60_000;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const CRITICAL = tlv(0x01, Buffer.of(0xff));
const extension = (id: string, critical: boolean, value: Buffer) =>
  sequence(oid(id), ...(critical ? [CRITICAL] : []), tlv(TAG.OCTET_STRING, value));
const BASIC_CONSTRAINTS_LEAF = extension('2.5.29.19', true, sequence());
// KeyUsage: digitalSignature only (ECDHE key exchange; the key never encrypts).
const KEY_USAGE = extension('2.5.29.15', true, tlv(TAG.BIT_STRING, Buffer.of(7, 0x80)));
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_SERVER = extension('2.5.29.37', false, sequence(oid(SERVER_AUTH)));

function invalid(message: string): never {
  throw caError('ERR_CA_REQUEST_INVALID', message);
}

/** A DNS name as RFC 1123 allows in a certificate: lowercase labels, no wildcard. */
export function checkDnsName(name: string): string {
  if (name.length === 0 || name.length > 253) invalid(`"${name}" is not a DNS name`);
  if (!name.split('.').every((label) => LABEL.test(label))) invalid(`"${name}" is not a DNS name`);
  return name;
}

function ipBytes(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  if (family !== 6) invalid(`"${address}" is not an IP address`);
  // Expand "::" and read the eight groups; an embedded IPv4 tail is refused for simplicity.
  if (address.includes('.')) invalid(`"${address}": IPv4-mapped IPv6 addresses are not supported`);
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

function serial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes;
}

const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;

/** Node's rendering of the SAN extension, for the check after signing. */
function expectedSan(dnsNames: readonly string[], ipAddresses: readonly string[]): string {
  const ip = (address: string) => (isIP(address) === 6 ? ipv6Text(ipBytes(address)) : address);
  return [...dnsNames.map((n) => `DNS:${n}`), ...ipAddresses.map((a) => `IP Address:${ip(a)}`)].join(', ');
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16).toUpperCase());
  return groups.join(':');
}

/**
 * Signs a TLS server certificate for the control plane with the active signer, then parses it
 * back and checks it (chain, SANs, constraints, usages, validity) before returning it.
 */
export function issueServingCert(signer: Signer, request: ServingCertRequest): IssuedServingCert {
  const dnsNames = request.dnsNames.map(checkDnsName);
  const ipAddresses = [...(request.ipAddresses ?? [])];
  if (dnsNames.length === 0) invalid('a serving certificate needs at least one DNS name');
  if (dnsNames.length + ipAddresses.length > MAX_SERVING_NAMES) {
    invalid(`a serving certificate has at most ${MAX_SERVING_NAMES} names`);
  }
  if (
    !Number.isInteger(request.ttlMs) ||
    request.ttlMs < SERVING_TTL_BOUNDS.minMs ||
    request.ttlMs > SERVING_TTL_BOUNDS.maxMs
  ) {
    invalid('a serving certificate lives between 10 minutes and 30 days');
  }
  const notBefore = seconds(request.now - SKEW_MS);
  const notAfter = seconds(Math.min(request.now + request.ttlMs, signer.notAfter));
  if (notAfter <= request.now) throw caError('ERR_CA_UNAVAILABLE', 'the CA certificate has expired');

  const san = sequence(
    ...dnsNames.map((name) => tlv(0x82, Buffer.from(name, 'latin1'))),
    ...ipAddresses.map((address) => tlv(0x87, ipBytes(address))),
  );
  const aki = signer.template.authorityKeyId
    ? [extension('2.5.29.35', false, sequence(tlv(0x80, signer.template.authorityKeyId)))]
    : [];
  const subject = sequence(
    tlv(TAG.SET, sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(dnsNames[0]!.slice(0, 64), 'utf8')))),
  );
  const spki = request.publicKey.export({ type: 'spki', format: 'der' });
  const tbs = sequence(
    tlv(0xa0, tlv(TAG.INTEGER, Buffer.of(2))),
    tlv(TAG.INTEGER, serial()),
    signer.template.signatureAlgorithm,
    signer.template.issuerName,
    sequence(time(notBefore), time(notAfter)),
    subject,
    spki,
    tlv(
      0xa3,
      sequence(BASIC_CONSTRAINTS_LEAF, KEY_USAGE, EKU_SERVER, extension('2.5.29.17', false, san), ...aki),
    ),
  );
  const signature = sign(signer.template.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
  const der = certificate(tbs, signer.template.signatureAlgorithm, signature);

  const cert = new X509Certificate(der);
  const refuse = (check: string): never => {
    throw caError('ERR_CA_ISSUED_CERT_INVALID', 'the CA refused to return a certificate it issued', {
      check,
    });
  };
  if (!cert.checkIssued(signer.cert) || !cert.verify(signer.publicKey)) refuse('chain');
  if (cert.subjectAltName !== expectedSan(dnsNames, ipAddresses)) refuse('san');
  if (cert.ca) refuse('basic-constraints');
  if (cert.keyUsage?.length !== 1 || cert.keyUsage[0] !== SERVER_AUTH) refuse('eku');
  if (!cert.publicKey.equals(request.publicKey)) refuse('key');
  if (Date.parse(cert.validFrom) !== notBefore || Date.parse(cert.validTo) !== notAfter) refuse('validity');
  return { der, cert, notBefore, notAfter };
}
