import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { x509 } from './x509-provider.ts';
import { webcrypto } from 'node:crypto';
import { parseCsr } from './csr.ts';
import { issueLeaf, probeSigner } from './issue.ts';
import { constantExtensions, type LeafTemplate } from './leaf-template.ts';
import { sequence, TAG, tlv } from '../lib/der.ts';
import type { Signer } from './signer.ts';
import { DEFAULT_TTL_POLICY, ttlPolicy } from './ttl.ts';
import type { AuthorityMaterial } from './authority.ts';
import { makeCsr, p256Csr } from '../test/helpers/csr.ts';
import { opensslVerify, testSigner } from '../test/helpers/ca.ts';

const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const spiffeId = 'spiffe://cluster.local/ns/shop/sa/web';
let signer: Signer;
let material: AuthorityMaterial;

beforeAll(async () => {
  ({ signer, material } = await testSigner());
});

const pem = (der: Buffer) => new X509Certificate(der).toString();

function issue(csr: Buffer, ttlMs?: number, now = Date.now()) {
  return issueLeaf(signer, DEFAULT_TTL_POLICY, {
    csr: parseCsr(csr),
    identity,
    now,
    ...(ttlMs ? { ttlMs } : {}),
  });
}

describe('issueLeaf', () => {
  it('issues an SVID with one URI SAN, CA:false, digitalSignature and server+client auth', async () => {
    const { csr, publicKey } = p256Csr();
    const now = Date.now();
    const leaf = issue(csr, undefined, now);
    const cert = new X509Certificate(leaf.der);
    expect(cert.subjectAltName).toBe(`URI:${spiffeId}`);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(cert.publicKey.equals(publicKey)).toBe(true);
    expect(Date.parse(cert.validTo) - Date.parse(cert.validFrom)).toBeGreaterThanOrEqual(3600_000);
    expect(Date.parse(cert.validFrom)).toBeLessThan(now - DEFAULT_TTL_POLICY.skewMs + 1000);
    const parsed = new x509.X509Certificate(leaf.der);
    const usage = parsed.getExtension(x509.KeyUsagesExtension);
    expect(usage?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(usage?.critical).toBe(true);
    expect(await opensslVerify(cert.toString(), [material.rootPem], [])).toMatch(/OK/);
  });

  it('takes identity from the caller only: a CSR naming another identity or asking for CA:true changes nothing', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ]);
    const request = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=admin, O=system:masters',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: 'spiffe://cluster.local/ns/kube-system/sa/admin' },
          { type: 'dns', value: 'evil.example' },
        ]),
        new x509.BasicConstraintsExtension(true, 5, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign),
      ],
    });
    const leaf = issue(Buffer.from(request.rawData));
    const cert = new X509Certificate(leaf.der);
    expect(cert.subjectAltName).toBe(`URI:${spiffeId}`);
    expect(cert.subject ?? '').toBe('');
    expect(cert.ca).toBe(false);
    const text = cert.toString() + JSON.stringify(cert.toLegacyObject());
    for (const forbidden of ['admin', 'system:masters', 'evil.example', 'kube-system']) {
      expect(text).not.toContain(forbidden);
    }
  });

  it('clamps a long requested TTL to the maximum and a short one to the minimum', () => {
    const policy = ttlPolicy({ maxMs: 2 * 3600_000 });
    const now = Date.now();
    const long = issueLeaf(signer, policy, {
      csr: parseCsr(p256Csr().csr),
      identity,
      now,
      ttlMs: 365 * 24 * 3600_000,
    });
    expect(long.notAfter).toBe(Math.floor((now + 2 * 3600_000) / 1000) * 1000);
    const short = issueLeaf(signer, policy, { csr: parseCsr(p256Csr().csr), identity, now, ttlMs: 1000 });
    expect(short.notAfter).toBe(Math.floor((now + policy.minMs) / 1000) * 1000);
  });

  it('never issues past the signing CA expiry', () => {
    const caEnd = Date.parse(signer.cert.validTo);
    const leaf = issue(p256Csr().csr, undefined, caEnd - 600_000);
    expect(leaf.notAfter).toBe(caEnd);
  });

  it('refuses a CSR whose signature does not verify', () => {
    expect(() => issue(p256Csr({ corruptSignature: true }).csr)).toThrow(
      expect.objectContaining({ code: 'ERR_CA_CSR_INVALID' }),
    );
  });

  it('accepts P-384 and RSA-2048 keys', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const keys of [p384, rsa]) {
      const leaf = issue(makeCsr(keys.privateKey, keys.publicKey, { hash: 'sha384' }));
      expect(await opensslVerify(pem(leaf.der), [material.rootPem], [])).toMatch(/OK/);
    }
  });

  it('chains through an intermediate, and openssl verifies leaf + chain against the root', async () => {
    const withIntermediate = await testSigner(true);
    const leaf = issueLeaf(withIntermediate.signer, DEFAULT_TTL_POLICY, {
      csr: parseCsr(p256Csr().csr),
      identity,
      now: Date.now(),
    });
    expect(withIntermediate.material.chainPems).toHaveLength(1);
    const out = await opensslVerify(
      pem(leaf.der),
      [withIntermediate.material.rootPem],
      withIntermediate.material.chainPems,
    );
    expect(out).toMatch(/OK/);
    await expect(opensslVerify(pem(leaf.der), [withIntermediate.material.rootPem], [])).rejects.toThrow();
  });
});

describe('probeSigner (runs in loadSigner)', () => {
  const withTemplate = (changes: Partial<LeafTemplate>): Signer => {
    const template = { ...signer.template, ...changes };
    return { ...signer, template, constantExtensions: constantExtensions(template) };
  };
  const probeRefused = (probe: string): unknown =>
    expect.objectContaining({ code: 'ERR_CA_KEY_MATERIAL_INVALID', detail: { probe } });

  it('accepts the template of a generated CA', () => {
    expect(() => probeSigner(signer)).not.toThrow();
  });

  it('refuses a template whose authority key id is not the signer key id: the native issuer check fails', () => {
    expect(signer.template.authorityKeyId).toBeDefined();
    const broken = withTemplate({ authorityKeyId: Buffer.alloc(20, 7) });
    expect(() => probeSigner(broken)).toThrow(probeRefused('issuer'));
  });

  it('refuses a template whose issuer is not an X.509 Name: the native parser refuses the leaf', () => {
    const broken = withTemplate({ issuerName: sequence(tlv(TAG.INTEGER, Buffer.of(1))) });
    expect(() => probeSigner(broken)).toThrow(probeRefused('parse'));
  });

  it('refuses a template whose algorithm does not match its digest: the leaf check fails', () => {
    const broken = withTemplate({ hash: 'sha384' });
    expect(() => probeSigner(broken)).toThrow(probeRefused('leaf-check'));
  });
});
