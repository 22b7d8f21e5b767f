import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { opensslVerify } from '../test/helpers/ca.ts';
import { p256Csr } from '../test/helpers/csr.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { FileKeyStore } from './file-keystore.ts';
import { Keyring, type TrustBundle } from './keyring.ts';
import type { RotationPolicy } from './rotation.ts';
import { DEFAULT_TTL_POLICY } from './ttl.ts';

const DAY = 24 * 3600_000;
const rootSteps = (steps: { kind: string }[]) =>
  steps.map((step) => step.kind).filter((kind) => kind.endsWith('-root'));
const rotation: RotationPolicy = {
  prepareAtFraction: 0.5,
  overlapMs: DAY,
  leafLifetimeMs: DEFAULT_TTL_POLICY.maxMs + DEFAULT_TTL_POLICY.skewMs,
  jwtKeyRotationMs: 7 * DAY,
  jwtLifetimeMs: 10 * 60_000,
};
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function storePath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-keyring-'));
  dirs.push(dir);
  return join(dir, 'ca.json');
}

const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };

describe('Keyring', () => {
  it('creates the state once in a 0600 file, and two racing opens end with one root', async () => {
    const path = storePath();
    const clock = new FakeClock(Date.now());
    const options = { store: new FileKeyStore(path), trustDomain: 'cluster.local', clock, rotation };
    const [a, b] = await Promise.all([Keyring.open(options), Keyring.open(options)]);
    expect(a.bundle().rootPems).toEqual(b.bundle().rootPems);
    expect(a.bundle().rootPems).toHaveLength(1);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const reopened = await Keyring.open(options);
    expect(reopened.bundle().rootPems).toEqual(a.bundle().rootPems);
  });

  it('rotates A/B: prepare, publish, switch after the overlap, drop after the last old leaf expires', async () => {
    const clock = new FakeClock(Date.now());
    const keyring = await Keyring.open({
      store: new FileKeyStore(storePath()),
      trustDomain: 'cluster.local',
      clock,
      rotation,
      rootValidityMs: 30 * DAY,
    });
    const ca = new CertificateAuthority({ keyring, clock, ttl: DEFAULT_TTL_POLICY, jwtIssuer: 'https://ca' });
    const bundles: TrustBundle[] = [];
    keyring.onBundleChange((bundle) => bundles.push(bundle));
    const [oldRoot] = keyring.bundle().rootPems;
    expect(await keyring.tick()).toEqual([]);

    clock.advance(16 * DAY);
    expect(rootSteps(await keyring.tick())).toEqual(['prepare-root']);
    expect(keyring.bundle().rootPems).toHaveLength(2);
    expect(keyring.signer.material.rootPem).toBe(oldRoot);
    clock.advance(DAY - 1800_000);
    const oldLeaf = ca.issueX509Svid({ csr: p256Csr().csr, identity });

    clock.advance(1800_000);
    expect(rootSteps(await keyring.tick())).toEqual(['activate-root']);
    expect(keyring.signer.material.rootPem).not.toBe(oldRoot);
    expect(keyring.bundle().rootPems).toContain(oldRoot);
    const newLeaf = ca.issueX509Svid({ csr: p256Csr().csr, identity });
    // While both roots are in the bundle, leaves of either verify against it.
    const pem = (der: Buffer) =>
      `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    for (const leaf of [oldLeaf, newLeaf]) {
      expect(await opensslVerify(pem(leaf.chain[0]!), keyring.bundle().rootPems, [], clock.now())).toMatch(
        /OK/,
      );
    }

    clock.advance(DEFAULT_TTL_POLICY.maxMs + DEFAULT_TTL_POLICY.skewMs);
    expect(rootSteps(await keyring.tick())).toEqual(['drop-root']);
    expect(keyring.bundle().rootPems).toEqual([keyring.signer.material.rootPem]);
    expect(bundles.map((bundle) => bundle.rootPems.length)).toEqual([2, 1]);
    expect(bundles[1]!.sequence).toBeGreaterThan(bundles[0]!.sequence);
  });

  it('rotates the JWT key and keeps the previous one in the JWKS until its tokens expire', async () => {
    const clock = new FakeClock(Date.now());
    const keyring = await Keyring.open({
      store: new FileKeyStore(storePath()),
      trustDomain: 'cluster.local',
      clock,
      rotation,
    });
    const ca = new CertificateAuthority({ keyring, clock, ttl: DEFAULT_TTL_POLICY, jwtIssuer: 'https://ca' });
    const firstKid = ca.jwks().keys[0]!.kid;
    clock.advance(7 * DAY);
    await keyring.tick();
    expect(ca.jwks().keys.map((key) => key.kid)).toEqual([expect.any(String), firstKid]);
    expect(ca.jwks().keys[0]!.kid).not.toBe(firstKid);
    clock.advance(10 * 60_000);
    await keyring.tick();
    expect(ca.jwks().keys).toHaveLength(1);
  });

  it('picks up a rotation written by another replica on its next tick', async () => {
    const path = storePath();
    const clock = new FakeClock(Date.now());
    const options = {
      store: new FileKeyStore(path),
      trustDomain: 'cluster.local',
      clock,
      rotation,
      rootValidityMs: 30 * DAY,
    };
    const a = await Keyring.open(options);
    const b = await Keyring.open(options);
    clock.advance(16 * DAY);
    await a.tick();
    await b.tick();
    expect(b.bundle().rootPems).toEqual(a.bundle().rootPems);
    expect(b.bundle().rootPems).toHaveLength(2);
  });
});

describe('Keyring expiry warning', () => {
  it('logs when the active CA nears expiry', async () => {
    const clock = new FakeClock(Date.now());
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (_fields: object, message: string) => warnings.push(message),
    };
    const keyring = await Keyring.open({
      store: new FileKeyStore(storePath()),
      trustDomain: 'cluster.local',
      clock,
      rotation: { ...rotation, prepareAtFraction: 2 },
      rootValidityMs: 60 * DAY,
      logger,
    });
    await keyring.tick();
    expect(warnings).toEqual([]);
    clock.advance(31 * DAY);
    await keyring.tick();
    expect(warnings).toEqual(['the active CA expires soon and no rotation has replaced it']);
  });
});
