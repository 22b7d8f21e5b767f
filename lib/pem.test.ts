import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestCa } from '../test/helpers/pki.ts';
import { certificatePem } from './pem.ts';

describe('certificatePem', () => {
  it('regression: a DER whose base64 fills the last line exactly gets no blank line before the footer', () => {
    for (const size of [48, 96, 478, 479]) {
      const pem = certificatePem(Buffer.alloc(size, 1));
      expect(pem).not.toMatch(/\n\n/);
      expect(pem.split('\n').every((line) => line.length <= 64)).toBe(true);
      expect(Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')).toEqual(Buffer.alloc(size, 1));
    }
  });

  it('round-trips a real certificate through the native parser', async () => {
    const root = new X509Certificate((await createTestCa()).certPem);
    expect(new X509Certificate(certificatePem(root.raw)).fingerprint256).toBe(root.fingerprint256);
  });
});
