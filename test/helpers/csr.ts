// Hand-built PKCS#10 CSRs for CA tests: any node:crypto key, even ones no CSR library would take.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { oid, sequence, TAG, tlv } from '../../lib/der.ts';

const SIGNATURE_OIDS = {
  ec: { sha256: '1.2.840.10045.4.3.2', sha384: '1.2.840.10045.4.3.3' },
  rsa: { sha256: '1.2.840.113549.1.1.11', sha384: '1.2.840.113549.1.1.12' },
} as const;

export interface CsrOptions {
  readonly hash?: 'sha256' | 'sha384';
  /** A DER Name for the subject; default an empty one. */
  readonly subject?: Buffer;
  /** Flip a bit in the signature so that it does not verify. */
  readonly corruptSignature?: boolean;
  /** An AlgorithmIdentifier (DER) to claim instead of the one that was used. */
  readonly claimedAlgorithm?: Buffer;
}

export function makeCsr(privateKey: KeyObject, publicKey: KeyObject, options: CsrOptions = {}): Buffer {
  const hash = options.hash ?? 'sha256';
  const type = privateKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec';
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = sequence(
    tlv(TAG.INTEGER, Buffer.of(0)),
    options.subject ?? sequence(),
    spki,
    tlv(0xa0), // no attributes
  );
  const signature = sign(hash, info, { key: privateKey, dsaEncoding: 'der' });
  if (options.corruptSignature) signature[signature.length - 1]! ^= 0x01;
  const algorithm =
    type === 'rsa'
      ? sequence(oid(SIGNATURE_OIDS.rsa[hash]), tlv(TAG.NULL))
      : sequence(oid(SIGNATURE_OIDS.ec[hash]));
  return sequence(info, options.claimedAlgorithm ?? algorithm, tlv(TAG.BIT_STRING, Buffer.of(0), signature));
}

/** A fresh P-256 key and a CSR for it. */
export function p256Csr(options: CsrOptions = {}): {
  csr: Buffer;
  privateKey: KeyObject;
  publicKey: KeyObject;
} {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { csr: makeCsr(privateKey, publicKey, options), privateKey, publicKey };
}
