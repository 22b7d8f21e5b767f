// Proves that the integration tests run against a real Kubernetes API server.
import { AuthenticationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfig, kubectl, uniqueName } from '../helpers/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const authn = kc.makeApiClient(AuthenticationV1Api);
const namespace = uniqueName('cluster-test');

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

describe('the test cluster', () => {
  it('issues ServiceAccount tokens that TokenReview accepts only for their audience', async () => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'workload' } } });
    const issued = await core.createNamespacedServiceAccountToken({
      name: 'workload',
      namespace,
      body: { spec: { audiences: ['lanyard-ca'], expirationSeconds: 600 } },
    });
    const token = issued.status?.token;
    expect(token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);

    const accepted = await authn.createTokenReview({ body: { spec: { token, audiences: ['lanyard-ca'] } } });
    expect(accepted.status?.authenticated).toBe(true);
    expect(accepted.status?.user?.username).toBe(`system:serviceaccount:${namespace}:workload`);
    expect(accepted.status?.audiences).toEqual(['lanyard-ca']);

    const otherAudience = await authn.createTokenReview({
      body: { spec: { token, audiences: ['some-other-service'] } },
    });
    // The API omits `authenticated: false`; an absent field means not authenticated.
    expect(otherAudience.status?.authenticated ?? false).toBe(false);
    expect(otherAudience.status?.error).toMatch(/audience/i);

    const forged = await authn.createTokenReview({
      body: { spec: { token: `${token!.slice(0, -4)}AAAA`, audiences: ['lanyard-ca'] } },
    });
    expect(forged.status?.authenticated ?? false).toBe(false);
    expect(forged.status?.error).toBeTruthy();
  });

  it('applies a CustomResourceDefinition with kubectl and stores custom objects', async () => {
    const group = `${uniqueName('widgets')}.test.lanyard.dev`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    required: ['size'],
                    properties: { size: { type: 'integer', minimum: 1 } },
                  },
                },
              },
            },
          },
        ],
      },
    };
    try {
      await kubectl(['apply', '-f', '-'], JSON.stringify(crd));
      await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/widgets.${group}`]);

      const custom = kc.makeApiClient(CustomObjectsApi);
      await custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace,
        plural: 'widgets',
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } },
      });
      const read = (await custom.getNamespacedCustomObject({
        group,
        version: 'v1',
        namespace,
        plural: 'widgets',
        name: 'w1',
      })) as { spec: { size: number }; metadata: { uid: string } };
      expect(read.spec.size).toBe(3);
      expect(read.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);

      // The schema is enforced by the real server: a size below the minimum is refused.
      await expect(
        kubectl(
          ['apply', '-n', namespace, '-f', '-'],
          JSON.stringify({ ...read, metadata: { name: 'w2' }, spec: { size: 0 } }),
        ),
      ).rejects.toThrow(/spec\.size/);
    } finally {
      await kubectl(['delete', 'crd', `widgets.${group}`, '--ignore-not-found']);
    }
  });
});
