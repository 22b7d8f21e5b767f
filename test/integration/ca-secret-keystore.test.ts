// The CA's key material in a real Kubernetes Secret: racing replicas, and a root rotation that
// reaches a connected client through the trust-bundle stream.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaClient, type Bundle } from '../../ca/client/ca-client.ts';
import { Keyring } from '../../ca/keyring.ts';
import { SecretKeyStore } from '../../ca/secret-keystore.ts';
import { TokenReviewAttestor } from '../../ca/token-review-attestor.ts';
import { kubePodLookup } from '../../kube/pods.ts';
import { kubeSecretClient } from '../../kube/secrets.ts';
import { kubeTokenReviewer } from '../../kube/token-review.ts';
import { CA_SPIFFE_ID, startTestCaServer, TEST_ROTATION } from '../helpers/ca-server.ts';
import { FakeClock } from '../helpers/clock.ts';
import { kubeConfig, uniqueName } from '../helpers/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = uniqueName('ca-ks');

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

describe('SecretKeyStore on the real API server', () => {
  it('two CA instances racing on an empty namespace end with one root Secret', async () => {
    const open = () =>
      Keyring.open({
        store: new SecretKeyStore(kubeSecretClient(kc), namespace, 'lanyard-ca'),
        trustDomain: 'cluster.local',
        clock: new FakeClock(Date.now()),
        rotation: TEST_ROTATION,
      });
    const [a, b] = await Promise.all([open(), open()]);
    expect(a.bundle().rootPems).toEqual(b.bundle().rootPems);
    const secrets = await core.listNamespacedSecret({ namespace });
    expect(secrets.items.map((secret) => secret.metadata?.name)).toEqual(['lanyard-ca']);
    const stored = JSON.parse(
      Buffer.from(secrets.items[0]!.data!['ca-state.json']!, 'base64').toString(),
    ) as {
      active: { rootPem: string };
    };
    expect(stored.active.rootPem).toBe(a.bundle().rootPems[0]);
  });

  it('delivers a rotated bundle to a connected client over the stream', { timeout: 60_000 }, async () => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'web' } } });
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'web-1' },
        spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    });
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: 'web',
        namespace,
        body: {
          spec: {
            audiences: ['lanyard-ca'],
            expirationSeconds: 600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-1', uid: pod.metadata!.uid! },
          },
        },
      })
    ).status!.token;
    const server = await startTestCaServer({
      store: new SecretKeyStore(kubeSecretClient(kc), namespace, 'lanyard-ca-rotation'),
      rootValidityMs: 30 * 24 * 3600_000,
      serviceAccountTokens: new TokenReviewAttestor({
        trustDomain: 'cluster.local',
        reviewer: kubeTokenReviewer(kc),
        pods: kubePodLookup(kc),
        clock: { now: () => Date.now() },
      }),
    });
    const bundles: Bundle[] = [];
    const client = new CaClient({
      address: server.address,
      caSpiffeId: CA_SPIFFE_ID,
      bootstrapRootsPem: server.rootsPem(),
      credential: () => Promise.resolve({ kind: 'token', token }),
      clock: server.clock,
      onBundle: (bundle) => bundles.push(bundle),
    });
    try {
      await client.start();
      const before = bundles.at(-1)!;
      server.clock.advance(16 * 24 * 3600_000);
      expect((await server.keyring.tick()).map((step) => step.kind)).toContain('prepare-root');
      const [, nextRoot] = server.ca.bundle().rootPems;
      const body = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, '');
      await expect
        .poll(() => body(bundles.at(-1)!.rootsPem).includes(body(nextRoot!)), { timeout: 30_000 })
        .toBe(true);
      expect(bundles.at(-1)!.sequence).toBeGreaterThan(before.sequence);
    } finally {
      client.stop();
      await server.close();
    }
  });
});
