import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { CA_SPIFFE_ID, startTestCaServer } from '../../test/helpers/ca-server.ts';
import { FileKeyStore } from '../file-keystore.ts';
import { CaClient } from './ca-client.ts';

const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const dir = mkdtempSync(join(tmpdir(), 'lanyard-client-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CaClient', () => {
  it(
    'retries with backoff while the CA is down, and gets its SVID once the CA is back',
    { timeout: 30_000 },
    async () => {
      const store = new FileKeyStore(join(dir, 'ca.json'));
      const first = await startTestCaServer({ store });
      const port = first.server.port;
      const roots = first.rootsPem();
      await first.close();

      let attempts = 0;
      let restarted: Awaited<ReturnType<typeof startTestCaServer>> | undefined;
      const client = new CaClient({
        address: `127.0.0.1:${port}`,
        caSpiffeId: CA_SPIFFE_ID,
        bootstrapRootsPem: roots,
        credential: async () => {
          attempts += 1;
          // The CA comes back after two failed attempts, with the same key material.
          if (attempts === 3) restarted = await startTestCaServer({ store, port });
          return { kind: 'join-token', token: restarted?.joinTokens.create(identity) ?? 'none' };
        },
        clock: { now: () => Date.now() },
        random: () => 0.2,
      });
      try {
        const svid = await client.start();
        expect(svid.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/web');
        expect(attempts).toBeGreaterThanOrEqual(3);
      } finally {
        client.stop();
        await restarted?.close();
      }
    },
  );

  it('keeps the SVID it holds until it expires, whatever happens to the CA', async () => {
    const server = await startTestCaServer();
    const client = new CaClient({
      address: server.address,
      caSpiffeId: CA_SPIFFE_ID,
      bootstrapRootsPem: server.rootsPem(),
      credential: () => Promise.resolve({ kind: 'join-token', token: server.joinTokens.create(identity) }),
      clock: server.clock,
    });
    try {
      const svid = await client.start();
      await server.close();
      server.clock.set(svid.expiresAt - 1);
      expect(client.current()).toBe(svid);
      server.clock.set(svid.expiresAt);
      expect(client.current()).toBeUndefined();
    } finally {
      client.stop();
    }
  });

  it('mints a JWT-SVID for an audience with its current SVID, and never spends the bootstrap credential on it', async () => {
    const server = await startTestCaServer();
    let credentials = 0;
    const client = new CaClient({
      address: server.address,
      caSpiffeId: CA_SPIFFE_ID,
      bootstrapRootsPem: server.rootsPem(),
      credential: () => {
        credentials += 1;
        return Promise.resolve({ kind: 'join-token', token: server.joinTokens.create(identity) });
      },
      clock: server.clock,
    });
    try {
      await expect(client.mintJwtSvid('partner-api')).rejects.toThrow(/no valid SVID/);
      expect(credentials).toBe(0);
      const svid = await client.start();
      const minted = await client.mintJwtSvid('partner-api');
      expect(credentials).toBe(1);
      expect(minted.spiffeId).toBe(svid.spiffeId);
      const { payload } = await jwtVerify(minted.token, createLocalJWKSet(server.ca.jwks()), {
        audience: 'partner-api',
        issuer: 'https://ca.test',
        currentDate: new Date(server.clock.now()),
      });
      expect(payload.sub).toBe(svid.spiffeId);
      expect(minted.expiresAt).toBe((payload.exp ?? 0) * 1000);
      await expect(client.mintJwtSvid('')).rejects.toThrow(TypeError);
    } finally {
      client.stop();
      await server.close();
    }
  });

  it('keeps an SVID that Node and OpenSSL load, whatever its size', async () => {
    const server = await startTestCaServer();
    const client = new CaClient({
      address: server.address,
      caSpiffeId: CA_SPIFFE_ID,
      bootstrapRootsPem: server.rootsPem(),
      credential: () => Promise.resolve({ kind: 'join-token', token: server.joinTokens.create(identity) }),
      clock: server.clock,
    });
    try {
      const svid = await client.start();
      expect(new X509Certificate(svid.certChainPem).subjectAltName).toBe(`URI:${svid.spiffeId}`);
      expect(() => createSecureContext({ cert: svid.certChainPem, key: svid.privateKeyPem })).not.toThrow();
    } finally {
      client.stop();
      await server.close();
    }
  });
});
