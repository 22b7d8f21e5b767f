import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { oid, sequence, TAG, tlv } from '../lib/der.ts';
import { checkLeaf } from './leaf-check.ts';
import { certificate, constantExtensions, leafTbs, type LeafFields } from './leaf-template.ts';
import type { Signer } from './signer.ts';
import { testSigner } from '../test/helpers/ca.ts';

const spiffeId = 'spiffe://cluster.local/ns/shop/sa/web';
let signer: Signer;
let otherSigner: Signer;

beforeAll(async () => {
  [{ signer }, { signer: otherSigner }] = await Promise.all([testSigner(), testSigner()]);
});

const refused = (check: string): unknown =>
  expect.objectContaining({ code: 'ERR_CA_ISSUED_CERT_INVALID', detail: { check } });

function fields(overrides: Partial<LeafFields> = {}): LeafFields {
  const now = Math.floor(Date.now() / 1000) * 1000;
  return {
    serial: Buffer.from('4a0102030405060708090a0b0c0d0e0f', 'hex'),
    notBefore: now - 30_000,
    notAfter: now + 3600_000,
    spki: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'der',
    }),
    spiffeId,
    ...overrides,
  };
}

/** A leaf built by the template and signed by `by`; `edit` changes the TBS before it is signed. */
function leaf(
  leafFields: LeafFields,
  options: { by?: Signer; edit?: (tbs: Buffer) => void; extensions?: Buffer } = {},
): Buffer {
  const by = options.by ?? signer;
  const tbs = leafTbs(by.template, options.extensions ?? by.constantExtensions, leafFields);
  options.edit?.(tbs);
  return certificate(tbs, by.template.signatureAlgorithm, sign(by.template.hash, tbs, by.key));
}

/** Replaces the first occurrence of `from` (same length) in place. */
function replace(buffer: Buffer, from: Buffer | string, to: Buffer | string): void {
  const needle = Buffer.from(from);
  const at = buffer.indexOf(needle);
  expect(at).toBeGreaterThan(0);
  Buffer.from(to).copy(buffer, at);
}

const utc = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:T]|\.\d+/g, '')
    .slice(2);

describe('checkLeaf', () => {
  it('accepts what the CA issues, and that leaf parses and verifies natively', () => {
    const expected = fields();
    const der = leaf(expected);
    expect(() => checkLeaf(signer, der, expected)).not.toThrow();
    const cert = new X509Certificate(der);
    expect(cert.verify(signer.publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe(`URI:${spiffeId}`);
  });

  it('refuses a flipped byte in the signature', () => {
    const expected = fields();
    const der = leaf(expected);
    der[der.length - 3]! ^= 0x01;
    expect(() => checkLeaf(signer, der, expected)).toThrow(refused('signature'));
  });

  it('refuses trailing bytes after the certificate', () => {
    const expected = fields();
    expect(() => checkLeaf(signer, Buffer.concat([leaf(expected), Buffer.of(0)]), expected)).toThrow(
      refused('structure'),
    );
  });

  it('refuses a changed SAN, whether or not the change is signed', () => {
    const expected = fields();
    const signed = leaf(expected, { edit: (tbs) => replace(tbs, 'sa/web', 'sa/wep') });
    expect(() => checkLeaf(signer, signed, expected)).toThrow(refused('san'));
    const unsigned = leaf(expected);
    replace(unsigned, 'sa/web', 'sa/wep');
    expect(() => checkLeaf(signer, unsigned, expected)).toThrow(refused('san'));
  });

  it('refuses a SAN that is not a URI, or not the only name', () => {
    const expected = fields();
    const uri = Buffer.concat([Buffer.of(0x86, spiffeId.length), Buffer.from(spiffeId)]);
    const dnsName = Buffer.concat([Buffer.of(0x82, spiffeId.length), Buffer.from(spiffeId)]);
    const dns = leaf(expected, { edit: (tbs) => replace(tbs, uri, dnsName) });
    expect(() => checkLeaf(signer, dns, expected)).toThrow(refused('san'));
  });

  it('refuses a changed validity, including a time that only rolls over to the right instant', () => {
    const expected = fields();
    const later = leaf(expected, {
      edit: (tbs) => replace(tbs, utc(expected.notAfter), utc(expected.notAfter + 1000)),
    });
    expect(() => checkLeaf(signer, later, expected)).toThrow(refused('validity'));
    // 00:00:00 on the 1st of next month, written as 24:00:00 on the day before: Date.UTC
    // computes the same instant, the native parser would refuse the hour.
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    const rolled = fields({ notAfter: midnight });
    const dayBefore = utc(midnight - 86_400_000).slice(0, 6);
    const der = leaf(rolled, { edit: (tbs) => replace(tbs, utc(midnight), `${dayBefore}240000Z`) });
    expect(() => checkLeaf(signer, der, rolled)).toThrow(refused('validity'));
    // 1 May written as 31 April.
    const may = Date.UTC(now.getUTCFullYear() + 1, 4, 1, 12);
    const mayFields = fields({ notAfter: may });
    const april31 = `${utc(may).slice(0, 2)}0431120000Z`;
    const april = leaf(mayFields, { edit: (tbs) => replace(tbs, utc(may), april31) });
    expect(() => checkLeaf(signer, april, mayFields)).toThrow(refused('validity'));
  });

  it('refuses a validity past the signer, even if it is the one expected', () => {
    const expected = fields({ notAfter: Math.floor(signer.notAfter / 1000) * 1000 + 1000 });
    expect(() => checkLeaf(signer, leaf(expected), expected)).toThrow(refused('validity'));
  });

  it('refuses a wrong issuer: a changed issuer name, and a leaf of another CA', () => {
    const expected = fields();
    const name = signer.template.issuerName;
    const changed = Buffer.from(name);
    changed[changed.length - 1]! ^= 0x01;
    const renamed = leaf(expected, { edit: (tbs) => replace(tbs, name, changed) });
    expect(() => checkLeaf(signer, renamed, expected)).toThrow(refused('issuer'));
    expect(() => checkLeaf(signer, leaf(expected, { by: otherSigner }), expected)).toThrow(refused('issuer'));
  });

  it('refuses a key other than the CSR key, and a serial other than the one drawn', () => {
    const expected = fields();
    const der = leaf(expected);
    expect(() => checkLeaf(signer, der, { ...expected, spki: fields().spki })).toThrow(refused('spki'));
    expect(() => checkLeaf(signer, der, { ...expected, serial: Buffer.of(0x4a, 1) })).toThrow(
      refused('serial'),
    );
  });

  it('refuses CA:true, other key usages, a missing EKU, an unknown or repeated extension', () => {
    const expected = fields();
    const extension = (id: string, critical: boolean, value: Buffer) =>
      sequence(oid(id), ...(critical ? [tlv(0x01, Buffer.of(0xff))] : []), tlv(TAG.OCTET_STRING, value));
    const basic = extension('2.5.29.19', true, sequence());
    const usage = extension('2.5.29.15', true, tlv(TAG.BIT_STRING, Buffer.of(7, 0x80)));
    const eku = extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')));
    const aki = constantExtensions(signer.template).subarray(basic.length + usage.length + eku.length);
    expect(aki.length).toBeGreaterThan(0);
    const cases: [string, Buffer[]][] = [
      [
        'basic-constraints',
        [extension('2.5.29.19', true, sequence(tlv(0x01, Buffer.of(0xff)))), usage, eku, aki],
      ],
      ['basic-constraints', [extension('2.5.29.19', false, sequence()), usage, eku, aki]],
      ['key-usage', [basic, extension('2.5.29.15', true, tlv(TAG.BIT_STRING, Buffer.of(1, 0x86))), eku, aki]],
      ['eku', [basic, usage, aki]],
      ['eku', [basic, usage, extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))), aki]],
      ['authority-key-id', [basic, usage, eku]],
      ['extensions', [basic, usage, eku, aki, extension('1.2.3.4', false, sequence())]],
      ['extensions', [basic, usage, eku, aki, usage]],
    ];
    for (const [check, extensions] of cases) {
      const der = leaf(expected, { extensions: Buffer.concat(extensions) });
      expect(() => checkLeaf(signer, der, expected), check).toThrow(refused(check));
    }
  });
});
