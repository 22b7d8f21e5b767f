import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { AuthorityMaterial } from './authority.ts';
import { bytesOf, children, contentOf, oidToString, readElement } from '../lib/der.ts';
import { caError } from './errors.ts';
import { probeSigner } from './issue.ts';
import { constantExtensions, SIGNATURE_ALGORITHMS, type LeafTemplate } from './leaf-template.ts';

/** A CA generation loaded for signing: parsed certificates, key, and its leaf template. */
export interface Signer {
  readonly material: AuthorityMaterial;
  readonly root: X509Certificate;
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  /** The signer certificate's public key, decoded once. */
  readonly publicKey: KeyObject;
  readonly template: LeafTemplate;
  readonly constantExtensions: Buffer;
  /** `material.chainPems` as DER, sent after every leaf. */
  readonly chainDer: readonly Buffer[];
  /** The signer's (or root's, if earlier) expiry: no leaf may outlive it. */
  readonly notAfter: number;
}

function tbsFields(der: Buffer) {
  const [tbs] = children(der, readElement(der, 0));
  const fields = children(der, tbs!);
  // tbs: [0] version, serial, signature, issuer, validity, subject, spki, ..., [3] extensions
  return { fields, offset: fields[0]!.tag === 0xa0 ? 1 : 0 };
}

function subjectNameOf(der: Buffer): Buffer {
  const { fields, offset } = tbsFields(der);
  return Buffer.from(bytesOf(der, fields[offset + 4]!));
}

const SKI_OID = '2.5.29.14';

/** The subjectKeyIdentifier, which node:crypto does not expose. */
function subjectKeyIdOf(der: Buffer): Buffer | undefined {
  const extensions = tbsFields(der).fields.find((field) => field.tag === 0xa3);
  if (!extensions) return undefined;
  for (const extension of children(der, children(der, extensions)[0]!)) {
    const parts = children(der, extension);
    if (oidToString(contentOf(der, parts[0]!)) !== SKI_OID) continue;
    const octets = parts.at(-1)!;
    return Buffer.from(contentOf(der, readElement(der, octets.contentStart, octets.end)));
  }
  return undefined;
}

function algorithmFor(key: KeyObject) {
  if (key.asymmetricKeyType === 'rsa') return SIGNATURE_ALGORITHMS['rsa-sha256'];
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return SIGNATURE_ALGORITHMS['ecdsa-sha256'];
  if (curve === 'secp384r1') return SIGNATURE_ALGORITHMS['ecdsa-sha384'];
  throw caError('ERR_CA_KEY_MATERIAL_INVALID', 'CA key must be ECDSA P-256/P-384 or RSA', { curve });
}

/**
 * Loads a CA generation for signing. Before it is used, one probe leaf is issued from its
 * template and read back by the native X.509 parser (probeSigner); ERR_CA_KEY_MATERIAL_INVALID
 * if that fails.
 */
export function loadSigner(material: AuthorityMaterial): Signer {
  const cert = new X509Certificate(material.signerCertPem);
  const root = new X509Certificate(material.rootPem);
  const key = createPrivateKey(material.signerKeyPem);
  if (!cert.checkPrivateKey(key)) {
    throw caError('ERR_CA_KEY_MATERIAL_INVALID', 'the CA key does not match its certificate');
  }
  const algorithm = algorithmFor(key);
  const authorityKeyId = subjectKeyIdOf(cert.raw);
  const template: LeafTemplate = {
    signatureAlgorithm: algorithm.der,
    hash: algorithm.hash,
    issuerName: subjectNameOf(cert.raw),
    ...(authorityKeyId ? { authorityKeyId } : {}),
  };
  const notAfter = Math.min(...[cert, root].map((c) => Date.parse(c.validTo)));
  const signer: Signer = {
    material,
    root,
    cert,
    key,
    publicKey: cert.publicKey,
    template,
    constantExtensions: constantExtensions(template),
    chainDer: material.chainPems.map((pem) => new X509Certificate(pem).raw),
    notAfter,
  };
  probeSigner(signer);
  return signer;
}
