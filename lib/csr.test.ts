import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createKeyAndCsr } from './csr.ts';
import { bytesOf, children, contentOf, oid, readElement, sequence, TAG } from './der.ts';

const run = promisify(execFile);

describe('createKeyAndCsr', () => {
  it('makes a PKCS#10 CSR that openssl verifies, with an empty subject and no attributes', async () => {
    const { csr } = await createKeyAndCsr();
    const dir = mkdtempSync(join(tmpdir(), 'lanyard-csr-'));
    try {
      writeFileSync(join(dir, 'req.der'), csr);
      const { stdout, stderr } = await run('openssl', [
        'req',
        '-inform',
        'DER',
        '-in',
        join(dir, 'req.der'),
        '-verify',
        '-noout',
        '-text',
      ]);
      expect(`${stdout}${stderr}`).toMatch(/verify OK/);
      expect(stdout).toMatch(/ASN1 OID: prime256v1/);
      expect(stdout).toMatch(/Attributes:\s+\(none\)|Attributes:\s*\n\s*a0:00/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const root = readElement(csr, 0);
    expect(root.end).toBe(csr.length);
    const [info, algorithm] = children(csr, root);
    const [version, subject, , attributes, ...extra] = children(csr, info!);
    expect(contentOf(csr, version!)).toEqual(Buffer.of(0));
    expect(bytesOf(csr, subject!)).toEqual(sequence());
    expect(bytesOf(csr, attributes!)).toEqual(Buffer.of(0xa0, 0));
    expect(extra).toEqual([]);
    expect(bytesOf(csr, algorithm!)).toEqual(sequence(oid('1.2.840.10045.4.3.2')));
  });

  it('signs with the key it returns, and each call makes a new key', async () => {
    const first = await createKeyAndCsr();
    const second = await createKeyAndCsr();
    expect(first.privateKeyPem).not.toBe(second.privateKeyPem);
    const privateKey = createPrivateKey(first.privateKeyPem);
    expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const root = readElement(first.csr, 0);
    const [info, , signature] = children(first.csr, root);
    expect(signature!.tag).toBe(TAG.BIT_STRING);
    const signatureBits = contentOf(first.csr, signature!);
    expect(signatureBits[0]).toBe(0);
    const [, , spki] = children(first.csr, info!);
    const publicKey = createPublicKey({ key: bytesOf(first.csr, spki!), format: 'der', type: 'spki' });
    expect(publicKey.equals(createPublicKey(privateKey))).toBe(true);
    expect(verify('sha256', bytesOf(first.csr, info!), publicKey, signatureBits.subarray(1))).toBe(true);
  });
});
