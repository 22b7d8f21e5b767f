// Key pair and PKCS#10 CSR for a workload: shared by the CA (its own serving certificate) and
// the sidecar's CA client, which may import only lib/ and proto/.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyAndCsr {
  /** PKCS#8 PEM: stays in the process that made it. */
  readonly privateKeyPem: string;
  /** PKCS#10 DER, with an empty subject: the CA takes identity from the caller, not the CSR. */
  readonly csr: Buffer;
}

/** A fresh ECDSA P-256 key and a CSR that proves possession of it. */
export async function createKeyAndCsr(): Promise<KeyAndCsr> {
  const keys = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: P256,
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    privateKeyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY').trimEnd()}\n`,
    csr: Buffer.from(request.rawData),
  };
}
