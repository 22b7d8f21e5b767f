// The CA against the real API server: TokenReview, pod binding, and the security cases that
// depend on them, over real gRPC + TLS.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { CoreV1Api } from '@kubernetes/client-node';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { CaClient } from '../../ca/client/ca-client.ts';
import { TokenReviewAttestor } from '../../ca/token-review-attestor.ts';
import { kubePodLookup } from '../../kube/pods.ts';
import { kubeTokenReviewer } from '../../kube/token-review.ts';
import { loadCaProto } from '../../proto/load.ts';
import { opensslVerify } from '../helpers/ca.ts';
import { CA_SPIFFE_ID, startTestCaServer, type TestCaServer } from '../helpers/ca-server.ts';
import { p256Csr } from '../helpers/csr.ts';
import { kubeConfig, uniqueName } from '../helpers/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = uniqueName('ca-tr');
const serviceAccount = 'web';
let server: TestCaServer;

async function createPod(name: string): Promise<string> {
  const pod = await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        serviceAccountName: serviceAccount,
        containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
      },
    },
  });
  return pod.metadata!.uid!;
}

async function podToken(pod: string, uid: string, audience = 'lanyard-ca'): Promise<string> {
  const issued = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: {
      spec: {
        audiences: [audience],
        expirationSeconds: 600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid },
      },
    },
  });
  return issued.status!.token;
}

async function deletePod(name: string): Promise<void> {
  // No kubelet: an unscheduled Pod is gone at once.
  await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
  await expect
    .poll(async () =>
      core.readNamespacedPod({ namespace, name }).then(
        () => true,
        () => false,
      ),
    )
    .toBe(false);
}

function issueWithToken(token: string) {
  const Service = loadCaProto().CertificateService;
  const client = new Service(
    server.address,
    credentials.createSsl(Buffer.from(server.rootsPem()), null, null, {
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === `URI:${CA_SPIFFE_ID}` ? undefined : new Error('wrong CA identity'),
    }),
  );
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return new Promise<{ spiffeId: string }>((resolve, reject) =>
    client.IssueX509SVID({ csr: p256Csr().csr }, metadata, (error, value) => {
      client.close();
      if (error) reject(error);
      else resolve(value!);
    }),
  );
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  server = await startTestCaServer({
    serviceAccountTokens: new TokenReviewAttestor({
      trustDomain: 'cluster.local',
      reviewer: kubeTokenReviewer(kc),
      pods: kubePodLookup(kc),
      clock: { now: () => Date.now() },
      // Each case below presents its token once; no cache hides the API server's answer.
      cacheTtlMs: 0,
    }),
  });
});

afterAll(async () => {
  await server?.close();
  await core.deleteNamespace({ name: namespace });
});

describe('CA with TokenReview on the real API server', () => {
  it('gives a Pod-bound token from TokenRequest an SVID with its SPIFFE ID, through the CA client', async () => {
    const uid = await createPod('web-1');
    const token = await podToken('web-1', uid);
    const client = new CaClient({
      address: server.address,
      caSpiffeId: CA_SPIFFE_ID,
      bootstrapRootsPem: server.rootsPem(),
      credential: () => Promise.resolve({ kind: 'token', token }),
      clock: server.clock,
    });
    try {
      const svid = await client.start();
      expect(svid.spiffeId).toBe(`spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`);
      const leaf = new X509Certificate(svid.certChainPem);
      expect(leaf.subjectAltName).toBe(`URI:${svid.spiffeId}`);
      expect(await opensslVerify(leaf.toString(), server.ca.bundle().rootPems, [])).toMatch(/OK/);
    } finally {
      client.stop();
    }
  });

  it('refuses a token for another audience', async () => {
    const uid = await createPod('web-aud');
    await expect(issueWithToken(await podToken('web-aud', uid, 'some-other-service'))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
  });

  it('refuses the token of a deleted Pod', async () => {
    const uid = await createPod('web-gone');
    const token = await podToken('web-gone', uid);
    await deletePod('web-gone');
    await expect(issueWithToken(token)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('refuses the token of a Pod recreated under the same name (UID mismatch)', async () => {
    const uid = await createPod('web-again');
    const token = await podToken('web-again', uid);
    await deletePod('web-again');
    const newUid = await createPod('web-again');
    expect(newUid).not.toBe(uid);
    await expect(issueWithToken(token)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('refuses an expired token signed by the cluster issuer, and accepts the same token unexpired', async (context) => {
    // Only a cluster this test run started has its ServiceAccount signing key at hand.
    const keyPath = join(dirname(inject('kubeconfig')), 'sa.key');
    if (!inject('ownCluster') || !existsSync(keyPath)) context.skip();
    const uid = await createPod('web-old');
    const account = await core.readNamespacedServiceAccount({ namespace, name: serviceAccount });
    const now = Math.floor(Date.now() / 1000);
    const sign = (expiresAt: number) =>
      new SignJWT({
        'kubernetes.io': {
          namespace,
          serviceaccount: { name: serviceAccount, uid: account.metadata!.uid! },
          pod: { name: 'web-old', uid },
        },
      })
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer('https://kubernetes.default.svc.cluster.local')
        .setSubject(`system:serviceaccount:${namespace}:${serviceAccount}`)
        .setAudience('lanyard-ca')
        .setIssuedAt(now - 7200)
        .setNotBefore(now - 7200)
        .setExpirationTime(expiresAt)
        .sign(createPrivateKey(readFileSync(keyPath)));
    await expect(issueWithToken(await sign(now - 3600))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    // The control: the only difference above is the expiry.
    await expect(issueWithToken(await sign(now + 600))).resolves.toMatchObject({
      spiffeId: `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`,
    });
  });
});
