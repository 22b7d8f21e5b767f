// A throwaway PKI for tests: never used by Lanyard itself, whose CA lives in ca/.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface TestCa extends PemPair {
  issue(options: LeafOptions): Promise<PemPair>;
}

export interface LeafOptions {
  /** Subject, e.g. "CN=admin, O=system:masters". */
  subject: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  usage: 'server' | 'client' | 'both';
  validForMs?: number;
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

/** Creates a self-signed ECDSA P-256 CA that issues leaf certificates for tests. */
export async function createTestCa(
  commonName = 'lanyard-test-ca',
  validForMs = 24 * 3600_000,
): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter: new Date(Date.now() + validForMs),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });

  return {
    certPem: caCert.toString('pem'),
    keyPem: await exportKeyPem(keys.privateKey),
    async issue(options) {
      const leafKeys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
      const names: x509.JsonGeneralName[] = [
        ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
        ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
      ];
      const eku = {
        server: [x509.ExtendedKeyUsage.serverAuth],
        client: [x509.ExtendedKeyUsage.clientAuth],
        both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      }[options.usage];
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serialNumber(),
        subject: options.subject,
        issuer: caCert.subject,
        notBefore,
        notAfter: new Date(Date.now() + (options.validForMs ?? validForMs)),
        signingAlgorithm: algorithm,
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension(eku, false),
          ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
          await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
        ],
      });
      return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(leafKeys.privateKey) };
    },
  };
}
