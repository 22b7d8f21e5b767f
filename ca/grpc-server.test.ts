import { X509Certificate } from 'node:crypto';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createKeyAndCsr } from '../lib/csr.ts';
import { kubePodLookup } from '../kube/pods.ts';
import { kubeTokenReviewer } from '../kube/token-review.ts';
import { loadCaProto, type CertificateServiceClient } from '../proto/load.ts';
import type { IssueX509SVIDResponse__Output } from '../proto/generated/lanyard/ca/v1/IssueX509SVIDResponse.ts';
import type { TrustBundle__Output } from '../proto/generated/lanyard/ca/v1/TrustBundle.ts';
import { opensslVerify } from '../test/helpers/ca.ts';
import { createTestCa } from '../test/helpers/pki.ts';
import { CA_SPIFFE_ID, startTestCaServer, type TestCaServer } from '../test/helpers/ca-server.ts';
import { makeCsr, p256Csr } from '../test/helpers/csr.ts';
import { generateKeyPairSync } from 'node:crypto';
import { CaClient, type Bundle } from './client/ca-client.ts';
import { TokenReviewAttestor } from './token-review-attestor.ts';

const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const Service = loadCaProto().CertificateService;
let running: TestCaServer[] = [];
const clients: CertificateServiceClient[] = [];

afterEach(async () => {
  clients.splice(0).forEach((client) => client.close());
  await Promise.all(running.map((server) => server.close()));
  running = [];
});

async function start(options: Parameters<typeof startTestCaServer>[0] = {}) {
  const server = await startTestCaServer(options);
  running.push(server);
  return server;
}

function connect(server: TestCaServer, svid?: { privateKeyPem: string; certChainPem: string }) {
  const client = new Service(
    server.address,
    credentials.createSsl(
      Buffer.from(server.rootsPem()),
      svid ? Buffer.from(svid.privateKeyPem) : null,
      svid ? Buffer.from(svid.certChainPem) : null,
      {
        checkServerIdentity: (_host, cert) =>
          cert.subjectaltname === `URI:${CA_SPIFFE_ID}` ? undefined : new Error('wrong CA identity'),
      },
    ),
  );
  clients.push(client);
  return client;
}

function issue(client: CertificateServiceClient, csr: Buffer, metadata = new Metadata()) {
  return new Promise<IssueX509SVIDResponse__Output>((resolve, reject) =>
    client.IssueX509SVID({ csr }, metadata, (error, value) => (error ? reject(error) : resolve(value!))),
  );
}

const join = (token: string) => {
  const metadata = new Metadata();
  metadata.set('lanyard-join-token', token);
  return metadata;
};

const toPem = (der: Buffer) => new X509Certificate(der).toString();

describe('CA gRPC server', () => {
  it('issues an SVID for a join token, once; the SVID verifies with openssl against the bundle', async () => {
    const server = await start();
    const client = connect(server);
    const token = server.joinTokens.create(identity);
    const response = await issue(client, p256Csr().csr, join(token));
    expect(response.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/web');
    const leaf = new X509Certificate(response.certChain[0]!);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/web');
    const roots = response.bundle!.roots.map(toPem);
    expect(await opensslVerify(leaf.toString(), roots, [])).toMatch(/OK/);
    expect(response.expiresAtUnixMs).toBe(Date.parse(leaf.validTo));

    await expect(issue(client, p256Csr().csr, join(token))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    const metrics = await server.registry.getSingleMetricAsString('lanyard_ca_failed_total');
    expect(metrics).toContain('reason="ERR_CA_UNAUTHENTICATED"');
  });

  it('refuses calls without a credential, expired join tokens and garbage or weak CSRs', async () => {
    const server = await start();
    const client = connect(server);
    await expect(issue(client, p256Csr().csr)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    const expiring = server.joinTokens.create(identity, 1000);
    server.clock.advance(1000);
    await expect(issue(client, p256Csr().csr, join(expiring))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    const error = (await issue(
      client,
      Buffer.from('garbage'),
      join(server.joinTokens.create(identity)),
    ).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe('invalid CSR');
    expect(error.metadata.get('lanyard-error-code')).toEqual(['ERR_CA_CSR_INVALID']);
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await expect(
      issue(client, makeCsr(rsa1024.privateKey, rsa1024.publicKey), join(server.joinTokens.create(identity))),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(
      issue(client, Buffer.alloc(70 * 1024, 0x30), join(server.joinTokens.create(identity))),
    ).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  it('renews over mTLS with a valid SVID for the same identity only', async () => {
    const server = await start();
    const key = await createKeyAndCsr();
    const first = await issue(connect(server), key.csr, join(server.joinTokens.create(identity)));
    const svid = { privateKeyPem: key.privateKeyPem, certChainPem: first.certChain.map(toPem).join('') };
    const renewed = await issue(connect(server, svid), (await createKeyAndCsr()).csr);
    expect(renewed.spiffeId).toBe(first.spiffeId);
  });

  it('refuses renewal with an SVID from a foreign CA', async () => {
    const server = await start();
    const foreign = await createTestCa('foreign-ca');
    const forged = await foreign.issue({
      subject: 'CN=web',
      uris: ['spiffe://cluster.local/ns/shop/sa/web'],
      usage: 'both',
    });
    const client = connect(server, { privateKeyPem: forged.keyPem, certChainPem: forged.certPem });
    await expect(issue(client, p256Csr().csr)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('applies the per-caller signing rate limit', async () => {
    const server = await start({ ratePerSecond: 2 });
    const key = await createKeyAndCsr();
    const first = await issue(connect(server), key.csr, join(server.joinTokens.create(identity)));
    const mtls = connect(server, {
      privateKeyPem: key.privateKeyPem,
      certChainPem: first.certChain.map(toPem).join(''),
    });
    await issue(mtls, p256Csr().csr);
    // The fake clock does not move: the bucket (2 per second) is empty now.
    await expect(issue(mtls, p256Csr().csr)).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  it('bounds credential checks per address, so bogus tokens cannot flood TokenReview', async () => {
    let reviews = 0;
    const server = await start({
      attestationsPerSecond: 2,
      serviceAccountTokens: {
        attest: () => {
          reviews += 1;
          return Promise.reject(new Error('not a valid token'));
        },
      },
    });
    const client = connect(server);
    const bearer = (i: number) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer bogus-${i}`);
      return metadata;
    };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => issue(client, p256Csr().csr, bearer(i))),
    );
    const codes = outcomes.map((o) =>
      o.status === 'rejected' ? (o.reason as ServiceError).code : status.OK,
    );
    // The fake clock does not move: a burst of 4 (twice the rate) reaches the attestor, no more.
    expect(reviews).toBe(4);
    expect(codes.filter((code) => code === status.RESOURCE_EXHAUSTED)).toHaveLength(6);
    // The other four were refused by the attestor itself (never issued).
    expect(codes.filter((code) => code !== status.RESOURCE_EXHAUSTED && code !== status.OK)).toHaveLength(4);
  });

  it('answers a burst of requests in turns: the first SVIDs leave before the last are signed', async () => {
    const server = await start({ signingTurnMs: 0 });
    const client = connect(server);
    const burst = 30;
    const issuedSoFar = async () =>
      (await server.registry.getSingleMetric('lanyard_ca_issued_total')!.get()).values.reduce(
        (sum, sample) => sum + sample.value,
        0,
      );
    let issuedAtFirstAnswer: Promise<number> | undefined;
    const csr = p256Csr().csr;
    const calls = Array.from({ length: burst }, (_, i) =>
      issue(client, csr, join(server.joinTokens.create({ ...identity, serviceAccount: `caller-${i}` }))).then(
        () => {
          issuedAtFirstAnswer ??= issuedSoFar();
        },
      ),
    );
    await Promise.all(calls);
    // All at once, these requests used to be signed in one event-loop turn, and every answer
    // waited for the last signature.
    expect(await issuedAtFirstAnswer).toBeLessThan(burst / 2);
    expect(await issuedSoFar()).toBe(burst);
  });

  it('mints JWT-SVIDs that verify with the JWKS, and refuses one without an audience', async () => {
    const server = await start();
    const client = connect(server);
    const mint = (audience: string[]) =>
      new Promise<{ token: string }>((resolve, reject) =>
        client.MintJWTSVID({ audience }, join(server.joinTokens.create(identity)), (error, value) =>
          error ? reject(error) : resolve(value!),
        ),
      );
    const { token } = await mint(['orders']);
    const { payload } = await jwtVerify(token, createLocalJWKSet(server.ca.jwks()), {
      audience: 'orders',
      issuer: 'https://ca.test',
      currentDate: new Date(server.clock.now()),
    });
    expect(payload.sub).toBe('spiffe://cluster.local/ns/shop/sa/web');
    await expect(mint([])).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('fails closed with UNAVAILABLE when TokenReview is unreachable, and never logs the token', async () => {
    const unreachable = new KubeConfig();
    unreachable.loadFromClusterAndUser(
      { name: 'gone', server: 'https://127.0.0.1:1', skipTLSVerify: true },
      { name: 'nobody', token: 'x' },
    );
    const logged: unknown[] = [];
    const record = (fields: object, message: string) => logged.push({ ...fields, message });
    const server = await start({
      logger: { debug: record, info: record, warn: record, error: record },
      serviceAccountTokens: new TokenReviewAttestor({
        trustDomain: 'cluster.local',
        reviewer: kubeTokenReviewer(unreachable),
        pods: kubePodLookup(unreachable),
        clock: { now: () => Date.now() },
      }),
    });
    const metadata = new Metadata();
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzZWNyZXQiOiJ0b2tlbiJ9.c2lnbmF0dXJl';
    metadata.set('authorization', `Bearer ${token}`);
    await expect(issue(connect(server), p256Csr().csr, metadata)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    expect(logged).toEqual([expect.objectContaining({ reason: 'ERR_CA_UNAVAILABLE' })]);
    const text = JSON.stringify(logged);
    for (const part of token.split('.')) expect(text).not.toContain(part);
  });

  it(
    'streams the trust bundle to the CA client, and a rotated bundle when the root rotates',
    { timeout: 30_000 },
    async () => {
      const server = await start({ rootValidityMs: 30 * 24 * 3600_000 });
      const bundles: Bundle[] = [];
      const client = new CaClient({
        address: server.address,
        caSpiffeId: CA_SPIFFE_ID,
        bootstrapRootsPem: server.rootsPem(),
        credential: () => Promise.resolve({ kind: 'join-token', token: server.joinTokens.create(identity) }),
        clock: server.clock,
        onBundle: (bundle) => bundles.push(bundle),
      });
      try {
        const svid = await client.start();
        expect(svid.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/web');
        expect(client.current()).toBe(svid);
        await expect.poll(() => bundles.length).toBeGreaterThanOrEqual(1);
        const rotated = new Promise<TrustBundle__Output | Bundle>((resolve) => {
          const timer = setInterval(() => {
            const last = bundles.at(-1);
            if (last && last.rootsPem.match(/BEGIN CERTIFICATE/g)!.length === 2) {
              clearInterval(timer);
              resolve(last);
            }
          }, 20);
        });
        server.clock.advance(16 * 24 * 3600_000);
        await server.keyring.tick();
        const next = (await rotated) as Bundle;
        expect(next.rootsPem).toContain(server.ca.bundle().rootPems[1]!.split('\n')[1]!);
      } finally {
        client.stop();
      }
    },
  );
});
