import { describe, expect, it } from 'vitest';
import { injectionWebhookConfiguration } from './webhook-config.ts';

const caBundlePem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('injectionWebhookConfiguration', () => {
  it('sends namespace opt-ins unless the pod opts out, and pod opt-ins from other namespaces', () => {
    const config = injectionWebhookConfiguration({
      clientConfig: { service: { namespace: 'lanyard-system', name: 'lanyard-controller' } },
      caBundlePem,
      excludeNamespaces: ['lanyard-system'],
    });
    expect(config.metadata?.name).toBe('lanyard-injector');
    const [byNamespace, byPod] = config.webhooks ?? [];
    const excluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['lanyard-system'] };
    expect(byNamespace?.namespaceSelector).toEqual({
      matchExpressions: [{ key: 'lanyard.dev/inject', operator: 'In', values: ['enabled'] }, excluded],
    });
    expect(byNamespace?.objectSelector).toEqual({
      matchExpressions: [{ key: 'lanyard.dev/inject', operator: 'NotIn', values: ['disabled'] }],
    });
    expect(byPod?.namespaceSelector).toEqual({
      matchExpressions: [{ key: 'lanyard.dev/inject', operator: 'NotIn', values: ['enabled'] }, excluded],
    });
    expect(byPod?.objectSelector).toEqual({ matchLabels: { 'lanyard.dev/inject': 'enabled' } });
  });

  it('fails closed, has no side effects, takes v1 reviews of pod creations and may be reinvoked', () => {
    const config = injectionWebhookConfiguration({
      clientConfig: { url: 'https://127.0.0.1:15017/inject' },
      caBundlePem,
    });
    for (const webhook of config.webhooks ?? []) {
      expect(webhook).toMatchObject({
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        reinvocationPolicy: 'IfNeeded',
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
      });
      expect(webhook.clientConfig).toEqual({
        url: 'https://127.0.0.1:15017/inject',
        caBundle: Buffer.from(caBundlePem).toString('base64'),
      });
    }
  });

  it('points a Service client config at /inject on port 443 unless told otherwise', () => {
    const config = injectionWebhookConfiguration({
      clientConfig: { service: { namespace: 'lanyard-system', name: 'lanyard-controller', port: 15017 } },
      caBundlePem,
      failurePolicy: 'Ignore',
    });
    expect(config.webhooks?.[0]?.clientConfig.service).toEqual({
      namespace: 'lanyard-system',
      name: 'lanyard-controller',
      path: '/inject',
      port: 15017,
    });
    expect(config.webhooks?.[0]?.failurePolicy).toBe('Ignore');
  });
});
