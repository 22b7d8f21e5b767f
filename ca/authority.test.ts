import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { opensslVerify } from '../test/helpers/ca.ts';
import { createTestCa } from '../test/helpers/pki.ts';
import { p256Csr } from '../test/helpers/csr.ts';
import { authorityFromPem, generateAuthority } from './authority.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { FileKeyStore } from './file-keystore.ts';
import { Keyring } from './keyring.ts';
import { DEFAULT_TTL_POLICY } from './ttl.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-byo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const code = (code: string): unknown => expect.objectContaining({ code });
const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };

describe('authorityFromPem (bring your own CA)', () => {
  it('takes an intermediate and its chain, and Lanyard issues under it without rotating it', async () => {
    const clock = new FakeClock(Date.now());
    const external = await generateAuthority({
      trustDomain: 'corp',
      clock,
      intermediateValidityMs: 90 * 24 * 3600_000,
    });
    const supplied = authorityFromPem({
      keyPem: external.signerKeyPem,
      chainPem: external.signerCertPem + external.rootPem,
    });
    expect(supplied.rootPem).toBe(external.rootPem);
    expect(supplied.chainPems).toEqual([external.signerCertPem]);

    const keyring = await Keyring.open({
      store: new FileKeyStore(join(dir, 'byo.json')),
      trustDomain: 'cluster.local',
      clock,
      rotation: {
        prepareAtFraction: 0.5,
        overlapMs: 1,
        leafLifetimeMs: 1,
        jwtKeyRotationMs: 1e12,
        jwtLifetimeMs: 1,
      },
      supplied,
    });
    const ca = new CertificateAuthority({ keyring, clock, ttl: DEFAULT_TTL_POLICY, jwtIssuer: 'https://ca' });
    const issued = ca.issueX509Svid({ csr: p256Csr().csr, identity });
    expect(issued.chain).toHaveLength(2);
    const pem = (der: Buffer) =>
      `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    expect(
      await opensslVerify(pem(issued.chain[0]!), issued.bundle.rootPems, [pem(issued.chain[1]!)]),
    ).toMatch(/OK/);
    clock.advance(80 * 24 * 3600_000);
    expect((await keyring.tick()).filter((step) => step.kind.endsWith('-root'))).toEqual([]);
  });

  it('takes a root supplied separately when the chain stops below it', async () => {
    const external = await generateAuthority({
      trustDomain: 'corp',
      clock: new FakeClock(Date.now()),
      intermediateValidityMs: 1e9,
    });
    const supplied = authorityFromPem({
      keyPem: external.signerKeyPem,
      chainPem: external.signerCertPem,
      rootPem: external.rootPem,
    });
    expect(supplied.rootPem).toBe(external.rootPem);
  });

  it('refuses a key that does not match, a chain that does not end in a root, and a leaf that is not a CA', async () => {
    const external = await generateAuthority({
      trustDomain: 'corp',
      clock: new FakeClock(Date.now()),
      intermediateValidityMs: 1e9,
    });
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(() =>
      authorityFromPem({ keyPem: otherKey, chainPem: external.signerCertPem + external.rootPem }),
    ).toThrow(code('ERR_CA_KEY_MATERIAL_INVALID'));
    expect(() =>
      authorityFromPem({ keyPem: external.signerKeyPem, chainPem: external.signerCertPem }),
    ).toThrow(code('ERR_CA_KEY_MATERIAL_INVALID'));
    const pki = await createTestCa();
    const leaf = await pki.issue({ subject: 'CN=not-a-ca', usage: 'both' });
    expect(() => authorityFromPem({ keyPem: leaf.keyPem, chainPem: leaf.certPem + pki.certPem })).toThrow(
      code('ERR_CA_KEY_MATERIAL_INVALID'),
    );
  });
});
