// Property tests of the leaf template (fast-check): for random identities, serials and validity,
// what the CA builds parses with node:crypto and with @peculiar/x509 (an independent ASN.1
// reader, test-only) to the fields meant, and a few cases pass `openssl verify`.
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { opensslVerify, testSigner } from '../test/helpers/ca.ts';
import { p256Csr } from '../test/helpers/csr.ts';
import { parseCsr, type ParsedCsr } from './csr.ts';
import { issueLeaf } from './issue.ts';
import { checkLeaf } from './leaf-check.ts';
import { certificate, leafTbs } from './leaf-template.ts';
import type { Signer } from './signer.ts';
import { DEFAULT_TTL_POLICY } from './ttl.ts';
import { x509 } from './x509-provider.ts';
import { sign } from 'node:crypto';

let signer: Signer;
let rootPem: string;
const csrs: { csr: ParsedCsr; spkiDer: Buffer }[] = [];

beforeAll(async () => {
  const made = await testSigner();
  signer = made.signer;
  rootPem = made.material.rootPem;
  for (let i = 0; i < 8; i++) {
    const { csr, publicKey } = p256Csr();
    csrs.push({ csr: parseCsr(csr), spkiDer: publicKey.export({ type: 'spki', format: 'der' }) });
  }
});

// Namespaces are DNS labels, ServiceAccounts DNS subdomains: up to 63 and 253 characters, so
// the SAN and the extensions around it cross the one- and two-byte length forms.
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
const identity = fc.record({
  trustDomain: fc.constantFrom('cluster.local', 'prod.example.com'),
  namespace: label,
  serviceAccount: fc.array(label, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('.')),
});
const HOUR = 3600_000;

/** The fields of a leaf as @peculiar/x509 reads them. */
function peculiarView(der: Buffer) {
  const cert = new x509.X509Certificate(der);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  return {
    subject: cert.subject,
    serial: cert.serialNumber,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    san: san?.names.toJSON(),
    sanCritical: san?.critical,
    ca: basic?.ca,
    basicCritical: basic?.critical,
    usages: usage?.usages,
    usageCritical: usage?.critical,
    eku: eku?.usages,
    ekuCritical: eku?.critical,
    authorityKeyId: aki?.keyId,
    extensions: cert.extensions.length,
  };
}

describe('X.509-SVIDs built from the template', () => {
  it('read back, natively and with @peculiar/x509, as the identity, key and validity issued', () => {
    const skiHex = signer.template.authorityKeyId?.toString('hex');
    fc.assert(
      fc.property(
        identity,
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 30 * 24 * HOUR }),
        fc.integer({ min: 5 * 60_000, max: 24 * HOUR }),
        (who, key, offset, ttlMs) => {
          const now = Date.now() + offset;
          const leaf = issueLeaf(signer, DEFAULT_TTL_POLICY, {
            csr: csrs[key]!.csr,
            identity: who,
            now,
            ttlMs,
          });
          const spiffeId = `spiffe://${who.trustDomain}/ns/${who.namespace}/sa/${who.serviceAccount}`;
          const cert = new X509Certificate(leaf.der);
          expect(cert.subjectAltName).toBe(`URI:${spiffeId}`);
          expect(cert.ca).toBe(false);
          expect(cert.checkIssued(signer.cert)).toBe(true);
          expect(cert.verify(signer.publicKey)).toBe(true);
          expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(csrs[key]!.spkiDer);
          expect(Date.parse(cert.validFrom)).toBe(leaf.notBefore);
          expect(Date.parse(cert.validTo)).toBe(leaf.notAfter);
          expect(peculiarView(leaf.der)).toEqual({
            subject: '',
            serial: expect.stringMatching(/^[4-7][0-9a-f]{31}$/) as unknown,
            notBefore: leaf.notBefore,
            notAfter: leaf.notAfter,
            san: [{ type: 'url', value: spiffeId }],
            sanCritical: true,
            ca: false,
            basicCritical: true,
            usages: x509.KeyUsageFlags.digitalSignature,
            usageCritical: true,
            eku: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
            ekuCritical: false,
            authorityKeyId: skiHex,
            extensions: skiHex ? 5 : 4,
          });
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);

  it('encode any positive minimal serial of 1 to 20 bytes, and validity into GeneralizedTime years', () => {
    const serial = fc
      .uint8Array({ minLength: 1, maxLength: 20 })
      .filter((bytes) => bytes[0]! >= 1 && bytes[0]! <= 0x7f)
      .map((bytes) => Buffer.from(bytes));
    fc.assert(
      fc.property(
        serial,
        // Seconds from 1950 to 2100: UTCTime through 2049, GeneralizedTime after.
        fc.integer({ min: -631_152_000, max: 4_102_444_000 }),
        fc.integer({ min: 1, max: 400 * 24 * 3600 }),
        (serialBytes, startSeconds, lifetimeSeconds) => {
          const fields = {
            serial: serialBytes,
            notBefore: startSeconds * 1000,
            notAfter: (startSeconds + lifetimeSeconds) * 1000,
            spki: csrs[0]!.csr.spki,
            spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
          };
          const tbs = leafTbs(signer.template, signer.constantExtensions, fields);
          const signature = sign(signer.template.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
          const der = certificate(tbs, signer.template.signatureAlgorithm, signature);
          const cert = new X509Certificate(der);
          expect(cert.serialNumber).toBe(serialBytes.toString('hex').toUpperCase());
          expect(Date.parse(cert.validFrom)).toBe(fields.notBefore);
          expect(Date.parse(cert.validTo)).toBe(fields.notAfter);
          expect(cert.verify(signer.publicKey)).toBe(true);
          const view = peculiarView(der);
          expect([view.notBefore, view.notAfter]).toEqual([fields.notBefore, fields.notAfter]);
          // The leaf check accepts exactly these fields while they sit inside the signer's life.
          if (fields.notAfter <= signer.notAfter) expect(() => checkLeaf(signer, der, fields)).not.toThrow();
        },
      ),
      { numRuns: 120 },
    );
  }, 60_000);

  it('pass openssl verify against the root, for a few random identities', async () => {
    const samples = fc.sample(identity, { numRuns: 3, seed: 9 });
    for (const [index, who] of samples.entries()) {
      const leaf = issueLeaf(signer, DEFAULT_TTL_POLICY, {
        csr: csrs[index]!.csr,
        identity: who,
        now: Date.now(),
      });
      const pem = new X509Certificate(leaf.der).toString();
      expect(await opensslVerify(pem, [rootPem], [])).toMatch(/: OK/);
    }
  });
});
