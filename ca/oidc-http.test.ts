import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { TEST_ROTATION } from '../test/helpers/ca-server.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { FileKeyStore } from './file-keystore.ts';
import { Keyring } from './keyring.ts';
import { createCaMetrics } from './metrics.ts';
import { buildOidcHttp } from './oidc-http.ts';
import { DEFAULT_TTL_POLICY } from './ttl.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-oidc-'));
const clock = new FakeClock(Date.now());
let ca: CertificateAuthority;
let registry: Registry;

beforeAll(async () => {
  const keyring = await Keyring.open({
    store: new FileKeyStore(join(dir, 'ca.json')),
    trustDomain: 'cluster.local',
    clock,
    rotation: TEST_ROTATION,
  });
  ca = new CertificateAuthority({ keyring, clock, ttl: DEFAULT_TTL_POLICY, jwtIssuer: 'https://ca.test' });
  registry = new Registry();
  createCaMetrics(registry, keyring);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('OIDC discovery and JWKS', () => {
  it('serves discovery naming the issuer and the JWKS (in-process)', async () => {
    const app = buildOidcHttp({ ca, registry });
    const discovery = await app.inject('/.well-known/openid-configuration');
    expect(discovery.statusCode).toBe(200);
    expect(discovery.json()).toMatchObject({
      issuer: 'https://ca.test',
      jwks_uri: 'https://ca.test/keys',
      id_token_signing_alg_values_supported: ['ES256'],
    });
    const keys = (await app.inject('/keys')).json<{ keys: { kid: string; alg: string; d?: string }[] }>();
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0]).toMatchObject({ alg: 'ES256', kid: expect.any(String) as unknown });
    expect(keys.keys[0]!.d).toBeUndefined();
    const metrics = await app.inject('/metrics');
    expect(metrics.body).toContain('lanyard_ca_seconds_to_expiry{certificate="root"}');
    await app.close();
  });

  it('lets a verifier check a JWT-SVID through the JWKS over a real socket', async () => {
    const app = buildOidcHttp({ ca });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { token } = ca.mintJwtSvid({
        identity: { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' },
        audience: ['billing'],
      });
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${address}/keys`)), {
        audience: 'billing',
        currentDate: new Date(clock.now()),
      });
      expect(payload.sub).toBe('spiffe://cluster.local/ns/shop/sa/web');
    } finally {
      await app.close();
    }
  });
});
