// Key pair and PKCS#10 CSR for a workload: shared by the CA (its own serving certificate) and
// the sidecar's CA client, which may import only lib/ and proto/. Built with our DER encoder and
// node:crypto: a generic X.509 library would cost the sidecar about 18 MB of memory for 200 bytes.
import { generateKeyPair, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { oid, sequence, TAG, tlv } from './der.ts';

export interface KeyAndCsr {
  /** PKCS#8 PEM: stays in the process that made it. */
  readonly privateKeyPem: string;
  /** PKCS#10 DER, with an empty subject: the CA takes identity from the caller, not the CSR. */
  readonly csr: Buffer;
}

const generateEcKeyPair = promisify(generateKeyPair);
const VERSION_1 = tlv(TAG.INTEGER, Buffer.of(0));
const EMPTY_NAME = sequence();
const NO_ATTRIBUTES = tlv(0xa0);
const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));

/** A fresh ECDSA P-256 key and a CSR that proves possession of it. */
export async function createKeyAndCsr(): Promise<KeyAndCsr> {
  // Generated off the event loop, like the WebCrypto call it replaces.
  const { privateKey, publicKey } = await generateEcKeyPair('ec', { namedCurve: 'P-256' });
  // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, [0] attributes }
  const info = sequence(
    VERSION_1,
    EMPTY_NAME,
    publicKey.export({ type: 'spki', format: 'der' }),
    NO_ATTRIBUTES,
  );
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    csr: sequence(info, ECDSA_WITH_SHA256, tlv(TAG.BIT_STRING, Buffer.of(0), signature)),
  };
}
