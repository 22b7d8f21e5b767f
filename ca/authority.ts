import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { caError } from './errors.ts';
import { x509 } from './x509-provider.ts';

/**
 * The key material of one CA generation, as stored. The signer is the root itself or an
 * intermediate under it; `chainPems` are the certificates between the signer (included, unless
 * it is the root) and the root (excluded), sent with every leaf.
 */
export interface AuthorityMaterial {
  readonly rootPem: string;
  readonly signerCertPem: string;
  readonly signerKeyPem: string;
  readonly chainPems: readonly string[];
}

export interface GenerateAuthorityOptions {
  readonly trustDomain: string;
  readonly clock: Clock;
  /** Root lifetime; default 10 years. */
  readonly rootValidityMs?: number;
  /** When set, leaves are signed by an intermediate of this lifetime under the new root. */
  readonly intermediateValidityMs?: number;
}

export const DEFAULT_ROOT_VALIDITY_MS = 10 * 365 * 24 * 3600_000;
const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
// Certificates a little in the past, so that a peer whose clock lags still accepts them.
const CA_BACKDATE_MS = 5 * 60_000;

function serialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return `${x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY').trimEnd()}\n`;
}

/** Creates a self-signed ECDSA P-256 root (and, if asked, an intermediate under it). */
export async function generateAuthority(options: GenerateAuthorityOptions): Promise<AuthorityMaterial> {
  const now = options.clock.now();
  const notBefore = new Date(now - CA_BACKDATE_MS);
  const rootNotAfter = new Date(now + (options.rootValidityMs ?? DEFAULT_ROOT_VALIDITY_MS));
  const rootKeys = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
  const serial = serialHex();
  // The serial in the name keeps A and B roots of one trust domain apart in path building.
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: `O=Lanyard, OU=${options.trustDomain}, CN=Lanyard root ${serial.slice(0, 8)}`,
    notBefore,
    notAfter: rootNotAfter,
    keys: rootKeys,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const rootPem = `${root.toString('pem').trimEnd()}\n`;
  if (options.intermediateValidityMs === undefined) {
    return {
      rootPem,
      signerCertPem: rootPem,
      signerKeyPem: await keyPem(rootKeys.privateKey),
      chainPems: [],
    };
  }
  const keys = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
  const intermediateSerial = serialHex();
  const notAfter = Math.min(now + options.intermediateValidityMs, rootNotAfter.getTime());
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: intermediateSerial,
    subject: `O=Lanyard, OU=${options.trustDomain}, CN=Lanyard intermediate ${intermediateSerial.slice(0, 8)}`,
    issuer: root.subject,
    notBefore,
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root, false),
    ],
  });
  const intermediatePem = `${intermediate.toString('pem').trimEnd()}\n`;
  return {
    rootPem,
    signerCertPem: intermediatePem,
    signerKeyPem: await keyPem(keys.privateKey),
    chainPems: [intermediatePem],
  };
}

export function splitPemCertificates(pem: string): string[] {
  return (
    pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? []
  );
}

function invalidMaterial(message: string): never {
  throw caError('ERR_CA_KEY_MATERIAL_INVALID', message);
}

/**
 * Takes a CA the operator supplies (e.g. from cert-manager or Vault): the signer's private key and
 * its chain, signer first. The root is the chain's self-signed last certificate, or `rootPem`.
 * Checks that the key matches, that every certificate is a CA and that the chain verifies.
 */
export function authorityFromPem(input: {
  keyPem: string;
  chainPem: string;
  rootPem?: string;
}): AuthorityMaterial {
  const chain = splitPemCertificates(input.chainPem);
  if (chain.length === 0) invalidMaterial('the supplied chain holds no certificate');
  const certs = chain.map((pem) => new X509Certificate(pem));
  const last = certs.at(-1)!;
  const selfSigned = last.checkIssued(last) && last.verify(last.publicKey);
  let rootPem: string;
  let chainPems: string[];
  if (input.rootPem !== undefined) {
    rootPem = splitPemCertificates(input.rootPem)[0] ?? invalidMaterial('rootPem holds no certificate');
    chainPems = selfSigned ? chain.slice(0, -1) : chain;
    if (selfSigned && new X509Certificate(rootPem).fingerprint256 !== last.fingerprint256) {
      invalidMaterial('the chain ends in a root other than rootPem');
    }
  } else {
    if (!selfSigned) invalidMaterial('the chain does not end in a self-signed root; supply rootPem');
    rootPem = chain.at(-1)!;
    chainPems = chain.slice(0, -1);
  }
  const path = [...chainPems, rootPem].map((pem) => new X509Certificate(pem));
  for (const [index, cert] of path.entries()) {
    if (!cert.ca) invalidMaterial(`certificate ${index} of the chain is not a CA`);
    const parent = path[index + 1] ?? cert;
    if (!cert.checkIssued(parent) || !cert.verify(parent.publicKey)) {
      invalidMaterial(`certificate ${index} of the chain is not signed by the next one`);
    }
  }
  let key;
  try {
    key = createPrivateKey(input.keyPem);
  } catch {
    invalidMaterial('the supplied private key does not parse');
  }
  const signer = path[0]!;
  if (!signer.checkPrivateKey(key)) invalidMaterial('the private key does not match the signing certificate');
  return { rootPem, signerCertPem: chainPems[0] ?? rootPem, signerKeyPem: input.keyPem, chainPems };
}
