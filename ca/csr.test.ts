import { generateKeyPairSync, getCurves } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { oid, sequence, tlv, TAG } from './der.ts';
import { parseCsr } from './csr.ts';
import { makeCsr, p256Csr } from '../test/helpers/csr.ts';

const code = (code: string): unknown => expect.objectContaining({ code });

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
});
