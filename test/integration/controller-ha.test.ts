// Two control-plane replicas on the real API server: both serve, only the Lease holder writes
// status, and leadership moves when the leader goes away.
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, uniqueName, readAuthPolicy } from '../helpers/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const leases = kc.makeApiClient(CoordinationV1Api);
const system = uniqueName('lanyard-ha');
const apps = uniqueName('ha-apps');
const replicas = new Map<string, ControlPlane>();

async function holder(): Promise<string | undefined> {
  const lease = await leases.readNamespacedLease({ name: 'lanyard-controller', namespace: system });
  return lease.spec?.holderIdentity || undefined;
}

async function accepted(name: string): Promise<true | undefined> {
  const object = await readAuthPolicy(apps, name);
  return object.status?.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True')
    ? true
    : undefined;
}

const policy = (name: string) =>
  JSON.stringify({
    apiVersion: 'lanyard.dev/v1alpha1',
    kind: 'AuthPolicy',
    metadata: { name, namespace: apps },
    spec: { action: 'ALLOW', rules: [{ from: [{ namespaces: [apps] }] }] },
  });

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', `${root}crds/authpolicy.yaml`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);
  for (const name of [system, apps]) await core.createNamespace({ body: { metadata: { name } } });
  // Both replicas start at once on an empty namespace: they must end with one CA root.
  const started = await Promise.all(
    ['replica-a', 'replica-b'].map((identity) =>
      startControlPlane({
        source: { kind: 'kubernetes', kubeConfig: kc, namespace: system, identity },
        host: '127.0.0.1',
        port: 0,
      }),
    ),
  );
  replicas.set('replica-a', started[0]!);
  replicas.set('replica-b', started[1]!);
});

afterAll(async () => {
  for (const replica of replicas.values()) await replica.close();
  for (const name of [system, apps]) await core.deleteNamespace({ name }).catch(() => undefined);
});

describe('two control-plane replicas', () => {
  it('share one CA root and elect one leader, which writes status', async () => {
    const [a, b] = [...replicas.values()];
    expect(a!.rootsPem()).toBe(b!.rootsPem());
    const leader = await eventually(holder, 'a Lease holder');
    expect(['replica-a', 'replica-b']).toContain(leader);
    await kubectl(['apply', '-f', '-'], policy('first'));
    await eventually(() => accepted('first'), 'status written by the leader');
  });

  it('moves leadership when the leader goes away, and the new leader writes status', async () => {
    const leader = (await holder())!;
    await replicas.get(leader)!.close();
    replicas.delete(leader);
    const survivor = [...replicas.keys()][0]!;
    const next = await eventually(
      async () => ((await holder()) === survivor ? survivor : undefined),
      'a new leader',
    );
    expect(next).toBe(survivor);
    await kubectl(['apply', '-f', '-'], policy('second'));
    await eventually(() => accepted('second'), 'status written by the new leader');
  });
});
