import { describe, expect, it } from 'vitest';
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { applyPatch } from '../../test/helpers/admission.ts';
import {
  caBundlePatch,
  CaBundlePatcher,
  type CaBundlePatchOp,
  type WebhookConfigurationClient,
} from './ca-bundle.ts';
import { injectionWebhookConfiguration } from './webhook-config.ts';

const ROOTS = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const NEXT = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';
const b64 = (pem: string) => Buffer.from(pem).toString('base64');

/** RFC 6902 as the API server applies it: every `test` must hold, or nothing is written. */
function applyJsonPatch<T>(document: T, patch: readonly CaBundlePatchOp[]): T {
  for (const operation of patch) {
    if (operation.op !== 'test') continue;
    const actual = operation.path
      .split('/')
      .slice(1)
      .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], document);
    if (JSON.stringify(actual) !== JSON.stringify(operation.value))
      throw new Error(`test failed: ${operation.path}`);
  }
  return applyPatch(
    document,
    patch.filter((operation) => operation.op !== 'test'),
  );
}

// As the API server returns it: no object shared between the two webhooks.
const chartObject = (): V1MutatingWebhookConfiguration =>
  JSON.parse(
    JSON.stringify(
      injectionWebhookConfiguration({
        clientConfig: { service: { namespace: 'lanyard-system', name: 'lanyard-webhook' } },
        caBundlePem: '',
        excludeNamespaces: ['lanyard-system'],
      }),
    ),
  ) as V1MutatingWebhookConfiguration;

describe('caBundlePatch', () => {
  it("sets every webhook's caBundle, guarding each index by the webhook's name", () => {
    const patch = caBundlePatch(chartObject(), ROOTS);
    expect(patch).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'namespace.inject.lanyard.dev' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: b64(ROOTS) },
      { op: 'test', path: '/webhooks/1/name', value: 'object.inject.lanyard.dev' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64(ROOTS) },
    ]);
    const patched = applyJsonPatch(chartObject(), patch);
    expect(patched.webhooks!.map((w) => w.clientConfig.caBundle)).toEqual([b64(ROOTS), b64(ROOTS)]);
    expect(caBundlePatch(patched, ROOTS)).toEqual([]);
  });

  it('carries every root during a rotation, and patches only the webhooks that differ', () => {
    const object = chartObject();
    object.webhooks![0]!.clientConfig.caBundle = b64(ROOTS + NEXT);
    object.webhooks![1]!.clientConfig.caBundle = b64(ROOTS);
    expect(caBundlePatch(object, ROOTS + NEXT)).toEqual([
      { op: 'test', path: '/webhooks/1/name', value: 'object.inject.lanyard.dev' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64(ROOTS + NEXT) },
    ]);
  });

  it('fails rather than write the wrong webhook when the list was reordered meanwhile', () => {
    const object = chartObject();
    const patch = caBundlePatch(object, ROOTS);
    object.webhooks!.reverse();
    expect(() => applyJsonPatch(object, patch)).toThrow(/test failed: \/webhooks\/0\/name/);
  });

  it('leaves everything but caBundle alone', () => {
    const object = chartObject();
    const patched = applyJsonPatch(object, caBundlePatch(object, ROOTS));
    for (const webhook of patched.webhooks!) delete webhook.clientConfig.caBundle;
    for (const webhook of object.webhooks!) delete webhook.clientConfig.caBundle;
    expect(patched).toEqual(object);
  });
});

/** A webhook configuration store behind the client interface, applying patches as JSON patch. */
class FakeClient implements WebhookConfigurationClient {
  objects = new Map<string, V1MutatingWebhookConfiguration>();
  patches: CaBundlePatchOp[][] = [];
  get(name: string) {
    return Promise.resolve(this.objects.has(name) ? structuredClone(this.objects.get(name)) : undefined);
  }
  patch(name: string, patch: readonly CaBundlePatchOp[]) {
    this.patches.push([...patch]);
    this.objects.set(name, applyJsonPatch(this.objects.get(name)!, patch));
    return Promise.resolve();
  }
}

describe('CaBundlePatcher', () => {
  const warnings: unknown[] = [];
  const log = { debug() {}, info() {}, warn: (fields: unknown) => warnings.push(fields), error() {} };

  it('patches, then reports current; a reset caBundle is repaired by the next sync', async () => {
    const client = new FakeClient();
    client.objects.set('lanyard-injector', chartObject());
    let bundle = ROOTS;
    const patcher = new CaBundlePatcher({ client, name: 'lanyard-injector', bundlePem: () => bundle, log });
    await expect(patcher.sync()).resolves.toBe('patched');
    await expect(patcher.sync()).resolves.toBe('current');
    client.objects.set('lanyard-injector', chartObject());
    await expect(patcher.sync()).resolves.toBe('patched');
    bundle = ROOTS + NEXT;
    await expect(patcher.sync()).resolves.toBe('patched');
    expect(client.objects.get('lanyard-injector')!.webhooks![1]!.clientConfig.caBundle).toBe(
      b64(ROOTS + NEXT),
    );
  });

  it('never creates a missing configuration; warns once per absence with its code', async () => {
    const client = new FakeClient();
    warnings.length = 0;
    const patcher = new CaBundlePatcher({ client, name: 'lanyard-injector', bundlePem: () => ROOTS, log });
    await expect(patcher.sync()).resolves.toBe('missing');
    await expect(patcher.sync()).resolves.toBe('missing');
    expect(client.objects.size).toBe(0);
    expect(warnings).toEqual([
      { code: 'ERR_WEBHOOK_CONFIG_MISSING', webhookConfiguration: 'lanyard-injector' },
    ]);
    client.objects.set('lanyard-injector', chartObject());
    await expect(patcher.sync()).resolves.toBe('patched');
  });

  it('touches only the configuration it is named for', async () => {
    const client = new FakeClient();
    const other = { ...chartObject(), metadata: { name: 'someone-else' } };
    client.objects.set('someone-else', structuredClone(other));
    client.objects.set('lanyard-injector', chartObject());
    await new CaBundlePatcher({ client, name: 'lanyard-injector', bundlePem: () => ROOTS }).sync();
    expect(client.objects.get('someone-else')).toEqual(other);
  });

  it('runs once more after a sync that overlapped a running one', async () => {
    const client = new FakeClient();
    client.objects.set('lanyard-injector', chartObject());
    let bundle = ROOTS;
    const patcher = new CaBundlePatcher({ client, name: 'lanyard-injector', bundlePem: () => bundle });
    const first = patcher.sync();
    bundle = ROOTS + NEXT;
    void patcher.sync();
    await first;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(client.objects.get('lanyard-injector')!.webhooks![0]!.clientConfig.caBundle).toBe(
      b64(ROOTS + NEXT),
    );
  });
});
