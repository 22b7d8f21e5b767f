// The injection webhook against the real API server: the API server calls our HTTPS endpoint
// (trusting it through the caBundle) and stores the pods it mutated.
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  injectionWebhookConfiguration,
  startInjectionWebhook,
  type InjectionWebhook,
} from '../../controller/inject/index.ts';
import { kubeConfig, uniqueName } from '../helpers/kube.ts';
import { createTestCa } from '../helpers/pki.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);

// The webhook configuration is cluster-wide: a unique name, and a namespace label only this
// file's namespaces carry, so no other test's pods are ever sent to it.
const scope = uniqueName('inject');
const configurationName = `lanyard-test-${scope}`;
const enabledNs = uniqueName('inject-on');
const plainNs = uniqueName('inject-off');
const touchName = `lanyard-test-touch-${scope}`;
let webhook: InjectionWebhook;
let toucher: Server;
/** The injector's decisions, by namespace/pod, in the order the API server asked for them. */
const decisions: { pod: unknown; decision: unknown }[] = [];
const recordingLog = {
  debug: () => undefined,
  info: (fields: Record<string, unknown>) => decisions.push({ pod: fields.pod, decision: fields.decision }),
  warn: () => undefined,
  error: () => undefined,
};

/**
 * A second mutating webhook, called after ours (configurations run in name order), that adds an
 * annotation: the API server then calls ours again (reinvocationPolicy IfNeeded).
 */
async function startToucher(tls: { certPem: string; keyPem: string }): Promise<Server> {
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
      const patch = [{ op: 'add', path: '/metadata/labels/touched', value: 'yes' }];
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
          },
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function podBody(name: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      serviceAccountName: 'app',
      containers: [
        {
          name: 'app',
          image: 'example.invalid/app:1',
          ports: [{ containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
        },
      ],
    },
  };
}

async function createPod(namespace: string, name: string, labels?: Record<string, string>): Promise<V1Pod> {
  await core.createNamespacedPod({ namespace, body: podBody(name, labels) });
  return core.readNamespacedPod({ namespace, name });
}

beforeAll(async () => {
  const ca = await createTestCa('lanyard-inject-test-ca');
  const serving = await ca.issue({ subject: 'CN=127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
  webhook = await startInjectionWebhook({
    port: 0,
    host: '127.0.0.1',
    tls: serving,
    options: {
      image: 'example.invalid/lanyard:test',
      controlPlaneAddress: 'lanyard-controller.lanyard-system.svc:15012',
      trustDomain: 'cluster.local',
    },
    log: recordingLog,
  });
  toucher = await startToucher(serving);

  for (const [name, labels] of [
    [enabledNs, { 'lanyard.dev/inject': 'enabled', 'lanyard.dev/test-scope': scope }],
    [plainNs, { 'lanyard.dev/test-scope': scope }],
  ] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
    await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'app' } } });
  }

  await admission.createMutatingWebhookConfiguration({
    body: injectionWebhookConfiguration({
      name: configurationName,
      clientConfig: { url: `https://127.0.0.1:${webhook.port}/inject` },
      caBundlePem: ca.certPem,
      failurePolicy: 'Fail',
      extraNamespaceLabels: { 'lanyard.dev/test-scope': scope },
    }),
  });
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: touchName },
      webhooks: [
        {
          name: 'touch.test.lanyard.dev',
          clientConfig: {
            url: `https://127.0.0.1:${(toucher.address() as AddressInfo).port}/`,
            caBundle: Buffer.from(ca.certPem).toString('base64'),
          },
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          namespaceSelector: { matchLabels: { 'lanyard.dev/test-scope': scope } },
          objectSelector: { matchLabels: { touch: 'me' } },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        },
      ],
    },
  });
  // The API server picks a new configuration up from its own watch: wait until a dry-run pod
  // comes back injected (a dry run stores nothing).
  await eventually(async () => {
    const pod = await core.createNamespacedPod({
      namespace: enabledNs,
      body: podBody('probe'),
      dryRun: 'All',
    });
    return pod.metadata?.annotations?.['lanyard.dev/injected'] === 'true' ? true : undefined;
  }, 'the webhook configuration to take effect');
});

afterAll(async () => {
  for (const name of [configurationName, touchName]) {
    await admission.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
  }
  await webhook?.close();
  toucher?.close();
  for (const name of [enabledNs, plainNs]) await core.deleteNamespace({ name }).catch(() => undefined);
});

describe('injection webhook on the real API server', () => {
  it('stores a pod of a labelled namespace with the sidecar, lanyard-init and the token volume', async () => {
    const pod = await createPod(enabledNs, 'orders-1');
    expect(pod.metadata?.annotations?.['lanyard.dev/injected']).toBe('true');
    const init = pod.spec?.initContainers ?? [];
    expect(init.map((c) => c.name)).toEqual(['lanyard-init', 'lanyard-sidecar']);
    const [iptables, sidecar] = init;
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.securityContext).toMatchObject({
      runAsUser: 1337,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
    });
    expect(sidecar?.env?.find((e) => e.name === 'LANYARD_POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    );
    expect(sidecar?.env?.find((e) => e.name === 'LANYARD_APP_PORT')?.value).toBe('8080');
    expect(iptables?.securityContext?.capabilities?.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    const token = pod.spec?.volumes?.find((v) => v.name === 'lanyard-token');
    expect(token?.projected?.sources?.[0]?.serviceAccountToken).toEqual({
      audience: 'lanyard-ca',
      expirationSeconds: 3600,
      path: 'token',
    });
    expect(pod.spec?.volumes?.find((v) => v.name === 'lanyard-roots')?.configMap?.name).toBe('lanyard-roots');
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['app']);
  });

  it('leaves a pod labelled lanyard.dev/inject=disabled untouched', async () => {
    const pod = await createPod(enabledNs, 'opted-out', { 'lanyard.dev/inject': 'disabled' });
    expect(pod.metadata?.annotations?.['lanyard.dev/injected']).toBeUndefined();
    expect(pod.spec?.initContainers).toBeUndefined();
  });

  it('leaves a pod of a namespace without the label untouched', async () => {
    const pod = await createPod(plainNs, 'plain');
    expect(pod.metadata?.annotations?.['lanyard.dev/injected']).toBeUndefined();
    expect(pod.spec?.initContainers).toBeUndefined();
  });

  it('injects a pod labelled lanyard.dev/inject=enabled in a namespace without the label', async () => {
    const pod = await createPod(plainNs, 'opted-in', { 'lanyard.dev/inject': 'enabled' });
    expect(pod.metadata?.annotations?.['lanyard.dev/injected']).toBe('true');
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['lanyard-init', 'lanyard-sidecar']);
  });

  it('changes nothing when reinvoked after another webhook changed the pod', async () => {
    // The toucher's configuration may take a moment to be seen by the API server.
    const pod = await eventually(async () => {
      const name = uniqueName('touched');
      const created = await createPod(enabledNs, name, { touch: 'me' });
      return created.metadata?.labels?.touched === 'yes' ? created : undefined;
    }, 'the second webhook to take effect');
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['lanyard-init', 'lanyard-sidecar']);
    expect(pod.spec?.volumes?.filter((v) => v.name.startsWith('lanyard-')).length).toBe(2);
    expect(
      decisions.filter((d) => d.pod === `${enabledNs}/${pod.metadata?.name}`).map((d) => d.decision),
    ).toEqual(['injected', 'already-injected']);
  });

  it('skips a hostNetwork pod, recording why', async () => {
    const body = podBody('host');
    body.spec!.hostNetwork = true;
    await core.createNamespacedPod({ namespace: enabledNs, body });
    const pod = await core.readNamespacedPod({ namespace: enabledNs, name: 'host' });
    expect(pod.metadata?.annotations?.['lanyard.dev/injection-skipped']).toMatch(/hostNetwork/);
    expect(pod.spec?.initContainers).toBeUndefined();
  });
});
