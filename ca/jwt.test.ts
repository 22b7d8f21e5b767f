import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { FileKeyStore } from './file-keystore.ts';
import { Keyring } from './keyring.ts';
import { DEFAULT_TTL_POLICY } from './ttl.ts';

const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const dir = mkdtempSync(join(tmpdir(), 'lanyard-jwt-'));
let ca: CertificateAuthority;
const clock = new FakeClock(Date.now());

beforeAll(async () => {
  const keyring = await Keyring.open({
    store: new FileKeyStore(join(dir, 'ca.json')),
    trustDomain: 'cluster.local',
    clock,
    rotation: {
      prepareAtFraction: 0.5,
      overlapMs: 1,
      leafLifetimeMs: 1,
      jwtKeyRotationMs: 1e12,
      jwtLifetimeMs: 1,
    },
  });
  ca = new CertificateAuthority({
    keyring,
    clock,
    ttl: DEFAULT_TTL_POLICY,
    jwtIssuer: 'https://ca.lanyard.test',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('JWT-SVIDs', () => {
  it('are ES256 with kid, sub = SPIFFE ID, aud, exp <= 5 min, iat and jti, and verify with the JWKS', async () => {
    const { token } = await ca.mintJwtSvid({ identity, audience: ['orders', 'billing'], ttlMs: 3600_000 });
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'ES256', kid: ca.jwks().keys[0]!.kid });
    const { payload } = await jwtVerify(token, createLocalJWKSet(ca.jwks()), {
      issuer: 'https://ca.lanyard.test',
      audience: 'orders',
      currentDate: new Date(clock.now()),
    });
    expect(payload.sub).toBe('spiffe://cluster.local/ns/shop/sa/web');
    expect(payload.aud).toEqual(['orders', 'billing']);
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('are refused without an audience', async () => {
    for (const audience of [[], ['']]) {
      await expect(ca.mintJwtSvid({ identity, audience })).rejects.toMatchObject({
        code: 'ERR_CA_AUDIENCE_REQUIRED',
      });
    }
  });
});
