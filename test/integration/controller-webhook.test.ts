// The control plane hosting injection on the real API server: the MutatingWebhookConfiguration
// is created as the chart creates it (caBundle empty), the controller fills the caBundle, serves
// the webhook with a certificate from its own CA (the API server verifies it over TLS), publishes
// lanyard-roots, and reports pods that escaped injection.
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import { injectionWebhookConfiguration } from '../../controller/inject/webhook-config.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, uniqueName } from '../helpers/kube.ts';
import { freePort } from '../helpers/ports.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);

// Webhook configurations are cluster-wide: unique names, and namespace labels only this file's
// namespaces carry, so no other test's pods are sent to them.
const scope = uniqueName('cpwh');
const configName = `lanyard-test-${scope}`;
const downConfigName = `lanyard-test-${scope}-down`;
const system = uniqueName('cpwh-system');
const enabledNs = uniqueName('cpwh-on');
const plainNs = uniqueName('cpwh-off');
/** Labelled for injection, but its pods go to a webhook that cannot be reached (Ignore). */
const escapedNs = uniqueName('cpwh-escaped');
let plane: ControlPlane;

const podBody = (name: string): V1Pod => ({
  metadata: { name },
  spec: { serviceAccountName: 'app', containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
});

const injected = (pod: V1Pod) => pod.spec?.initContainers?.some((c) => c.name === 'lanyard-sidecar') === true;

async function caBundles(): Promise<string[]> {
  const configuration = await admission.readMutatingWebhookConfiguration({ name: configName });
  return (configuration.webhooks ?? []).map((webhook) => webhook.clientConfig.caBundle ?? '');
}

const expectedBundle = () => Buffer.from(plane.rootsPem()).toString('base64');

/** The certificate the webhook presents to a new TLS connection, verified against our roots. */
async function presentedCertificate(port: number): Promise<X509Certificate> {
  const socket = connect({ host: '127.0.0.1', port, ca: plane.rootsPem(), servername: undefined });
  try {
    await once(socket, 'secureConnect');
    return new X509Certificate(socket.getPeerX509Certificate()!.raw);
  } finally {
    socket.destroy();
  }
}

async function podEvents(namespace: string, pod: string) {
  const events = await core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${pod}`,
  });
  return events.items;
}

async function metrics(): Promise<string> {
  const response = await fetch(`http://${plane.httpAddress}/metrics`);
  return response.text();
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', `${root}crds/authpolicy.yaml`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);
  for (const [name, labels] of [
    [system, {}],
    [enabledNs, { 'lanyard.dev/inject': 'enabled', 'lanyard.dev/test-scope': scope }],
    [plainNs, { 'lanyard.dev/test-scope': scope }],
    [escapedNs, { 'lanyard.dev/inject': 'enabled', 'lanyard.dev/test-down': scope }],
  ] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
    await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'app' } } });
  }
  // Someone else's ConfigMap of the reserved name: the controller must leave it alone.
  await core.createNamespacedConfigMap({
    namespace: escapedNs,
    body: { metadata: { name: 'lanyard-roots' }, data: { 'roots.pem': 'not ours' } },
  });

  const port = await freePort();
  // As the chart creates it: both webhooks, caBundle empty, the control plane's namespace
  // excluded. The test API server cannot resolve Services, so it calls the loopback URL.
  await admission.createMutatingWebhookConfiguration({
    body: injectionWebhookConfiguration({
      name: configName,
      clientConfig: { url: `https://127.0.0.1:${port}/inject` },
      caBundlePem: '',
      failurePolicy: 'Fail',
      excludeNamespaces: [system],
      extraNamespaceLabels: { 'lanyard.dev/test-scope': scope },
    }),
  });
  // A webhook that is down, with failurePolicy Ignore: pods pass without a sidecar.
  await admission.createMutatingWebhookConfiguration({
    body: injectionWebhookConfiguration({
      name: downConfigName,
      clientConfig: { url: 'https://127.0.0.1:1/inject' },
      caBundlePem: '',
      failurePolicy: 'Ignore',
      timeoutSeconds: 2,
      excludeNamespaces: [system],
      extraNamespaceLabels: { 'lanyard.dev/test-down': scope },
    }),
  });

  plane = await startControlPlane({
    source: { kind: 'kubernetes', kubeConfig: kc, namespace: system, identity: 'replica-a' },
    host: '127.0.0.1',
    port: 0,
    httpPort: 0,
    injection: {
      webhook: {
        port,
        host: '127.0.0.1',
        configName,
        service: 'lanyard-webhook',
        inject: {
          image: 'example.invalid/lanyard:test',
          controlPlaneAddress: `lanyard-controller.${system}.svc:15012`,
          trustDomain: 'cluster.local',
        },
        ipAddresses: ['127.0.0.1'],
        caBundleCheckMs: 500,
      },
      evictPodsWithoutSidecar: true,
    },
  });
});

afterAll(async () => {
  for (const name of [configName, downConfigName]) {
    await admission.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
  }
  await plane?.close();
  for (const name of [system, enabledNs, plainNs, escapedNs]) {
    await core.deleteNamespace({ name }).catch(() => undefined);
  }
});

describe('the control plane hosting the injection webhook', () => {
  it('is ready, serving the webhook with a certificate for the Service names from its own CA', async () => {
    expect(plane.readiness()).toEqual([]);
    const ready = await fetch(`http://${plane.httpAddress}/ready`);
    expect(ready.status).toBe(200);
    const cert = plane.webhook!.servingCertificate()!;
    expect(cert.subjectAltName).toBe(
      `DNS:lanyard-webhook.${system}.svc, DNS:lanyard-webhook.${system}.svc.cluster.local, IP Address:127.0.0.1`,
    );
    const presented = await presentedCertificate(plane.webhook!.port);
    expect(presented.fingerprint256).toBe(cert.fingerprint256);
  });

  it("patches every webhook's caBundle with the CA's roots", async () => {
    const bundles = await eventually(async () => {
      const current = await caBundles();
      return current.every((bundle) => bundle === expectedBundle()) ? current : undefined;
    }, 'the caBundle patched');
    expect(bundles).toHaveLength(2);
    const other = await admission.readMutatingWebhookConfiguration({ name: downConfigName });
    expect(other.webhooks!.map((w) => w.clientConfig.caBundle ?? '')).toEqual(['', '']);
  });

  it('gets pods of a labelled namespace stored with the sidecar: the API server trusted our certificate', async () => {
    // The API server applies a changed caBundle from its own watch: retry with dry runs.
    await eventually(
      async () =>
        injected(
          await core.createNamespacedPod({ namespace: enabledNs, body: podBody('probe'), dryRun: 'All' }),
        ),
      'the API server to call the webhook',
      60_000,
    );
    await core.createNamespacedPod({ namespace: enabledNs, body: podBody('orders-1') });
    const pod = await core.readNamespacedPod({ namespace: enabledNs, name: 'orders-1' });
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['lanyard-init', 'lanyard-sidecar']);
    const sidecar = pod.spec!.initContainers![1]!;
    expect(sidecar.image).toBe('example.invalid/lanyard:test');
  });

  it("publishes lanyard-roots in labelled namespaces and its own, not elsewhere, and not over someone else's", async () => {
    for (const namespace of [enabledNs, system]) {
      const configMap = await eventually(
        () => core.readNamespacedConfigMap({ namespace, name: 'lanyard-roots' }),
        `lanyard-roots in ${namespace}`,
      );
      expect(configMap.data).toEqual({ 'roots.pem': plane.rootsPem() });
      expect(configMap.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('lanyard');
    }
    const warning = await eventually(async () => {
      const events = await podEvents(escapedNs, 'lanyard-roots');
      return events.find((event) => event.reason === 'RootsConfigMapNotManaged');
    }, 'a warning about the foreign ConfigMap');
    expect(warning.type).toBe('Warning');
    const foreign = await core.readNamespacedConfigMap({ namespace: escapedNs, name: 'lanyard-roots' });
    expect(foreign.data).toEqual({ 'roots.pem': 'not ours' });
    await expect(
      core.readNamespacedConfigMap({ namespace: plainNs, name: 'lanyard-roots' }),
    ).rejects.toThrow();
  });

  it('publishes lanyard-roots to a namespace when it is labelled later', async () => {
    await core.patchNamespace({
      name: plainNs,
      body: [{ op: 'add', path: '/metadata/labels/lanyard.dev~1inject', value: 'enabled' }],
    });
    const configMap = await eventually(
      () => core.readNamespacedConfigMap({ namespace: plainNs, name: 'lanyard-roots' }),
      'lanyard-roots after labelling',
    );
    expect(configMap.data?.['roots.pem']).toBe(plane.rootsPem());
  });

  it('reports a pod that escaped injection with one Event and the gauge, and evicts it if it has a controller', async () => {
    await core.createNamespacedPod({ namespace: escapedNs, body: podBody('bare') });
    const stored = await core.readNamespacedPod({ namespace: escapedNs, name: 'bare' });
    expect(injected(stored)).toBe(false);
    const events = await eventually(async () => {
      const found = (await podEvents(escapedNs, 'bare')).filter((e) => e.reason === 'PodWithoutSidecar');
      return found.length > 0 ? found : undefined;
    }, 'a PodWithoutSidecar Event');
    expect(events).toHaveLength(1);
    expect(events[0]!.involvedObject.uid).toBe(stored.metadata!.uid);
    expect(events[0]!.message).toMatch(/without the lanyard-sidecar sidecar/);
    await eventually(
      async () => (await metrics()).includes(`lanyard_pods_without_sidecar{namespace="${escapedNs}"} 1`),
      'the gauge',
    );

    // A pod its controller would recreate is evicted (the owner here is a stand-in object).
    const owner = await core.createNamespacedConfigMap({
      namespace: escapedNs,
      body: { metadata: { name: 'owner' } },
    });
    const owned = podBody('owned');
    owned.metadata!.ownerReferences = [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true },
    ];
    await core.createNamespacedPod({ namespace: escapedNs, body: owned });
    await eventually(
      () =>
        core.readNamespacedPod({ namespace: escapedNs, name: 'owned' }).then(
          () => false,
          () => true,
        ),
      'the owned pod evicted',
    );
    // The bare pod is still there: nothing would recreate it.
    await expect(core.readNamespacedPod({ namespace: escapedNs, name: 'bare' })).resolves.toBeDefined();
    expect((await podEvents(escapedNs, 'bare')).filter((e) => e.reason === 'PodWithoutSidecar')).toHaveLength(
      1,
    );
  });

  it('repairs a caBundle reset to empty (as a helm upgrade might) on its periodic check', async () => {
    await admission.patchMutatingWebhookConfiguration({
      name: configName,
      body: [
        { op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: '' },
        { op: 'replace', path: '/webhooks/1/clientConfig/caBundle', value: '' },
      ],
    });
    await eventually(
      async () => (await caBundles()).every((bundle) => bundle === expectedBundle()),
      'the caBundle repaired',
    );
  });

  it('serves a renewed certificate without restarting the listener', async () => {
    const webhook = plane.webhook!;
    const port = webhook.port;
    const before = await presentedCertificate(port);
    webhook.renewServingCertificate();
    const after = await presentedCertificate(port);
    expect(after.fingerprint256).not.toBe(before.fingerprint256);
    expect(after.fingerprint256).toBe(webhook.servingCertificate()!.fingerprint256);
    expect(plane.webhook!.port).toBe(port);
    // The API server verifies the new certificate as well.
    await core.createNamespacedPod({ namespace: enabledNs, body: podBody('orders-2') });
    expect(injected(await core.readNamespacedPod({ namespace: enabledNs, name: 'orders-2' }))).toBe(true);
  });
});
