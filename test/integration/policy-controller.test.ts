// The AuthPolicy controller against the real API server: status, selected workloads, Events.
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyController } from '../../controller/policy-controller.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, uniqueName, readAuthPolicy } from '../helpers/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = uniqueName('controller');
let controller: PolicyController;

const readPolicy = (name: string) => readAuthPolicy(namespace, name);

async function createPod(name: string, labels: Record<string, string>) {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels },
      spec: { serviceAccountName: 'app', containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
    },
  });
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', `${root}crds/authpolicy.yaml`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } });
  controller = new PolicyController({ kubeConfig: kc, compile: {}, isLeader: () => true, debounceMs: 50 });
  await controller.start();
});

afterAll(async () => {
  await controller.stop();
  await core.deleteNamespace({ name: namespace });
});

describe('PolicyController', () => {
  it('accepts a valid policy and counts the pods it selects, following pod changes', async () => {
    await createPod('orders-1', { app: 'orders' });
    await createPod('orders-2', { app: 'orders' });
    await createPod('web-1', { app: 'web' });
    await kubectl(['apply', '-n', namespace, '-f', `${root}docs/examples/orders-rbac.yaml`]);

    const accepted = await eventually(async () => {
      const policy = await readPolicy('orders');
      return policy.status?.selectedWorkloads === 2 ? policy : undefined;
    }, 'status with 2 selected workloads');
    expect(accepted.status?.observedGeneration).toBe(accepted.metadata.generation);
    expect(accepted.status?.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({
      status: 'True',
      reason: 'Accepted',
    });

    await createPod('orders-3', { app: 'orders' });
    await eventually(
      async () => ((await readPolicy('orders')).status?.selectedWorkloads === 3 ? true : undefined),
      'the new pod to be counted',
    );

    const table = await kubectl(['get', 'authpolicies', '-n', namespace]);
    expect(table).toMatch(/^NAME\s+ACTION\s+WORKLOADS\s+ACCEPTED\s+AGE$/m);
    expect(table).toMatch(/^orders\s+ALLOW\s+3\s+True\s+/m);
  });

  it('marks a policy the compiler refuses Accepted=False, naming the field, with an Event', async () => {
    await kubectl(['apply', '-n', namespace, '-f', `${root}docs/examples/invalid/unknown-permission.yaml`]);
    const rejected = await eventually(async () => {
      const policy = await readPolicy('unknown-permission');
      const condition = policy.status?.conditions?.find((c) => c.type === 'Accepted');
      return condition?.status === 'False' ? condition : undefined;
    }, 'Accepted=False');
    expect(rejected.message).toMatch(/spec\.rules\[0\]\.to\[0\]\.permission: unknown permission "wrte"/);

    const event = await eventually(async () => {
      const events = await core.listNamespacedEvent({ namespace });
      return events.items.find(
        (e) => e.involvedObject.name === 'unknown-permission' && e.reason === 'PolicyRejected',
      );
    }, 'a PolicyRejected Event');
    expect(event.type).toBe('Warning');

    // The invalid policy never stops the valid one from being compiled.
    expect(controller.current?.policySet.index.get({ namespace, name: 'orders' })).toBeDefined();
    expect(
      controller.current?.policySet.index.get({ namespace, name: 'unknown-permission' }),
    ).toBeUndefined();
  });

  it('updates the status when a policy is fixed, with the new observedGeneration', async () => {
    await kubectl([
      'patch',
      'authpolicy',
      'unknown-permission',
      '-n',
      namespace,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/rules/0/to/0/permission', value: 'write' }]),
    ]);
    const fixed = await eventually(async () => {
      const policy = await readPolicy('unknown-permission');
      const condition = policy.status?.conditions?.find((c) => c.type === 'Accepted');
      return condition?.status === 'True' ? policy : undefined;
    }, 'Accepted=True after the fix');
    expect(fixed.status?.observedGeneration).toBe(2);
  });
});
