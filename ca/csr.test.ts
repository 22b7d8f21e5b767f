import { createPublicKey, ECDH, generateKeyPairSync, getCurves, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { oid, sequence, tlv, TAG } from '../lib/der.ts';
import { parseCsr, verifyCsrSignature } from './csr.ts';
import { makeCsr, p256Csr } from '../test/helpers/csr.ts';

const code = (code: string): unknown => expect.objectContaining({ code });

/** A CSR that carries `spki` as is, correctly signed by `privateKey`. */
function csrWithSpki(spki: Buffer, privateKey: KeyObject): Buffer {
  const info = sequence(tlv(TAG.INTEGER, Buffer.of(0)), sequence(), spki, tlv(0xa0));
  const rsa = privateKey.asymmetricKeyType === 'rsa';
  const algorithm = rsa
    ? sequence(oid('1.2.840.113549.1.1.11'), tlv(TAG.NULL))
    : sequence(oid('1.2.840.10045.4.3.2'));
  return sequence(info, algorithm, tlv(TAG.BIT_STRING, Buffer.of(0), sign('sha256', info, privateKey)));
}

const P256_ALGORITHM = sequence(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7'));

describe('parseCsr', () => {
  it('reads the key of a well-formed CSR', () => {
    const { csr, publicKey } = p256Csr();
    const parsed = parseCsr(csr);
    expect(parsed.keyType).toBe('ec');
    expect(parsed.spki.equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('refuses RSA-1024', () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => parseCsr(makeCsr(keys.privateKey, keys.publicKey))).toThrow(code('ERR_CA_KEY_WEAK'));
  });

  it('refuses P-192 (hand-made CSR when OpenSSL can make the key, else a forged SPKI)', () => {
    let csr: Buffer;
    if (getCurves().includes('prime192v1')) {
      const keys = generateKeyPairSync('ec', { namedCurve: 'prime192v1' });
      csr = makeCsr(keys.privateKey, keys.publicKey);
    } else {
      const spki = sequence(
        sequence(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.1')),
        tlv(TAG.BIT_STRING, Buffer.alloc(50, 4)),
      );
      csr = sequence(
        sequence(tlv(TAG.INTEGER, Buffer.of(0)), sequence(), spki, tlv(0xa0)),
        sequence(oid('1.2.840.10045.4.3.2')),
        tlv(TAG.BIT_STRING, Buffer.of(0, 1)),
      );
    }
    expect(() => parseCsr(csr)).toThrow(code('ERR_CA_KEY_WEAK'));
  });

  it('refuses Ed25519 and other key types', () => {
    const keys = generateKeyPairSync('ed25519');
    const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
    const csr = sequence(
      sequence(tlv(TAG.INTEGER, Buffer.of(0)), sequence(), spki, tlv(0xa0)),
      sequence(oid('1.3.101.112')),
      tlv(TAG.BIT_STRING, Buffer.of(0, 1)),
    );
    expect(() => parseCsr(csr)).toThrow(code('ERR_CA_KEY_WEAK'));
  });

  it('refuses oversized CSRs before parsing them', () => {
    expect(() => parseCsr(Buffer.alloc(9000, 0x30))).toThrow(code('ERR_CA_CSR_INVALID'));
    expect(() => parseCsr(p256Csr().csr, 64)).toThrow(code('ERR_CA_CSR_INVALID'));
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['random bytes', Buffer.from('not a certificate request at all')],
    ['truncated', p256Csr().csr.subarray(0, 80)],
    ['trailing bytes', Buffer.concat([p256Csr().csr, Buffer.of(0)])],
    [
      'a PEM instead of DER',
      Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----'),
    ],
    ['an indefinite length', Buffer.of(0x30, 0x80, 0, 0)],
    ['a huge length', Buffer.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff)],
  ])('refuses garbage: %s', (_name, der) => {
    expect(() => parseCsr(der)).toThrow(code('ERR_CA_CSR_INVALID'));
  });

  it('refuses a signature algorithm that does not match the key', () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const claimedAlgorithm = sequence(oid('1.2.840.10045.4.3.2'));
    expect(() => parseCsr(makeCsr(keys.privateKey, keys.publicKey, { claimedAlgorithm }))).toThrow(
      code('ERR_CA_CSR_INVALID'),
    );
  });

  it('refuses a compressed EC point, which OpenSSL reads but Go peers do not', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const point = publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
    const compressed = ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
    const spki = sequence(P256_ALGORITHM, tlv(TAG.BIT_STRING, Buffer.of(0), compressed));
    expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(publicKey)).toBe(true);
    expect(() => parseCsr(csrWithSpki(spki, privateKey))).toThrow(
      expect.objectContaining({
        code: 'ERR_CA_CSR_INVALID',
        message: 'CSR public key must be an uncompressed EC point',
      }),
    );
  });

  it('refuses a hybrid-form EC point of the right length', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const point = publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
    const hybrid = ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'hybrid') as Buffer;
    expect(hybrid).toHaveLength(65);
    const spki = sequence(P256_ALGORITHM, tlv(TAG.BIT_STRING, Buffer.of(0), hybrid));
    expect(() => parseCsr(csrWithSpki(spki, privateKey))).toThrow(
      expect.objectContaining({ message: 'CSR public key must be an uncompressed EC point' }),
    );
  });

  it('refuses an EC point of the wrong length, and an SPKI with trailing content', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const point = publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
    const long = sequence(P256_ALGORITHM, tlv(TAG.BIT_STRING, Buffer.of(0), point, Buffer.of(0)));
    expect(() => parseCsr(csrWithSpki(long, privateKey))).toThrow(code('ERR_CA_CSR_INVALID'));
    const trailing = sequence(P256_ALGORITHM, tlv(TAG.BIT_STRING, Buffer.of(0), point), tlv(TAG.NULL));
    expect(() => parseCsr(csrWithSpki(trailing, privateKey))).toThrow(code('ERR_CA_CSR_INVALID'));
    expect(() =>
      parseCsr(csrWithSpki(sequence(P256_ALGORITHM, tlv(TAG.BIT_STRING, Buffer.of(0), point)), privateKey)),
    ).not.toThrow();
  });

  it('refuses an RSA key without the NULL parameters that RFC 3279 requires', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const keyBits = der.subarray(der.indexOf(Buffer.of(0x05, 0x00)) + 2);
    const spki = sequence(sequence(oid('1.2.840.113549.1.1.1')), keyBits);
    expect(() => parseCsr(csrWithSpki(spki, privateKey))).toThrow(code('ERR_CA_CSR_INVALID'));
    expect(() => parseCsr(csrWithSpki(der, privateKey))).not.toThrow();
  });
});

describe('verifyCsrSignature', () => {
  it('decodes the CSR key and checks the proof of possession with it', () => {
    expect(() => verifyCsrSignature(parseCsr(p256Csr().csr))).not.toThrow();
    expect(() => verifyCsrSignature(parseCsr(p256Csr({ corruptSignature: true }).csr))).toThrow(
      code('ERR_CA_CSR_INVALID'),
    );
  });

  it('refuses a point that is not on the curve', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const point = Buffer.from(publicKey.export({ type: 'spki', format: 'der' }).subarray(-65));
    point[64]! ^= 0x01;
    const spki = sequence(P256_ALGORITHM, tlv(TAG.BIT_STRING, Buffer.of(0), point));
    expect(() => verifyCsrSignature(parseCsr(csrWithSpki(spki, privateKey)))).toThrow(
      expect.objectContaining({ code: 'ERR_CA_CSR_INVALID', message: 'CSR public key does not decode' }),
    );
  });
});
