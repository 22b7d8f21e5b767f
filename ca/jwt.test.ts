import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { FileKeyStore } from './file-keystore.ts';
import { Keyring } from './keyring.ts';
import { generateJwtKey, loadJwtKey } from './jwt.ts';
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
    const { token } = ca.mintJwtSvid({ identity, audience: ['orders', 'billing'], ttlMs: 3600_000 });
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

  it('are refused without an audience', () => {
    for (const audience of [[], ['']]) {
      expect(() => ca.mintJwtSvid({ identity, audience })).toThrow(
        expect.objectContaining({ code: 'ERR_CA_AUDIENCE_REQUIRED' }),
      );
    }
  });

  it('carry exactly the header and claims a verifier expects, a one-element aud as a string', () => {
    const { token, expiresAt } = ca.mintJwtSvid({ identity, audience: ['orders'] });
    const [header, claims, signature] = token.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({
      alg: 'ES256',
      kid: ca.jwks().keys[0]!.kid,
      typ: 'JWT',
    });
    const payload = JSON.parse(Buffer.from(claims!, 'base64url').toString()) as Record<string, unknown>;
    expect(Object.keys(payload)).toEqual(['iss', 'sub', 'aud', 'iat', 'exp', 'jti']);
    expect(payload.aud).toBe('orders');
    expect(payload.exp).toBe(expiresAt / 1000);
    // ES256 signatures are R || S (64 bytes), not DER.
    expect(Buffer.from(signature!, 'base64url')).toHaveLength(64);
  });

  it('refuse to load a signing key that is not P-256, since the header says ES256', async () => {
    const record = generateJwtKey(clock.now());
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const privateKeyPem = p384.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(loadJwtKey({ ...record, privateKeyPem })).rejects.toMatchObject({
      code: 'ERR_CA_KEY_MATERIAL_INVALID',
    });
    await expect(loadJwtKey(record)).resolves.toMatchObject({ kid: record.kid });
  });
});
