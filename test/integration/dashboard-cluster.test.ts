// The dashboard of a control plane in Kubernetes mode, on the real API server: AuthPolicies
// with the status the controller computes, read over HTTP through a real login.
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import { generateLoginToken } from '../../controller/dashboard/index.ts';
import type { DashboardView } from '../../controller/dashboard/view.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, uniqueName } from '../helpers/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = uniqueName('dashboard');
const system = uniqueName('dashboard-system');
const token = generateLoginToken();
let plane: ControlPlane | undefined;
let url = '';

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', `${root}crds/authpolicy.yaml`]);
  for (const name of [namespace, system]) await core.createNamespace({ body: { metadata: { name } } });
  // No controller-manager here: the pod's ServiceAccount is made by hand.
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'orders' } } });
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'orders-1', labels: { app: 'orders' } },
      spec: {
        serviceAccountName: 'orders',
        containers: [{ name: 'app', image: 'example.invalid/orders:1' }],
      },
    },
  });
  await kubectl(['apply', '-n', namespace, '-f', `${root}docs/examples/orders-rbac.yaml`]);
  await kubectl(['apply', '-n', namespace, '-f', `${root}docs/examples/invalid/unknown-permission.yaml`]);
  plane = await startControlPlane({
    source: { kind: 'kubernetes', kubeConfig: kc, namespace: system, identity: 'replica-a' },
    host: '127.0.0.1',
    port: 0,
  });
  url = (await plane.startDashboard({ port: 0, token })).url;
});

afterAll(async () => {
  await plane?.close();
  for (const name of [namespace, system]) await core.deleteNamespace({ name }).catch(() => undefined);
});

/** Signs in as the login form does: its form token and cookie, the same Origin. */
async function signIn(): Promise<string> {
  const form = await fetch(new URL('/login', url));
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const formCookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
  const login = await fetch(new URL('/login', url), {
    method: 'POST',
    redirect: 'manual',
    headers: {
      origin: new URL(url).origin,
      cookie: formCookie,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ csrf, token }).toString(),
  });
  expect(login.status).toBe(303);
  return login.headers.getSetCookie()[0]!.split(';')[0]!;
}

describe('dashboard in Kubernetes mode', () => {
  it('lists the cluster AuthPolicies with their computed status', async () => {
    const cookie = await signIn();
    const rows = await eventually(async () => {
      const response = await fetch(new URL('/api/state', url), { headers: { cookie } });
      expect(response.status).toBe(200);
      const view = (await response.json()) as DashboardView;
      const mine = view.tables.policies.rows.filter((row) => row[0]!.startsWith(`${namespace}/`));
      return mine.length === 2 && mine;
    }, 'both policies on the dashboard');
    expect(rows[0]).toEqual([
      `${namespace}/orders`,
      'True (Accepted)',
      'Unknown (NoSidecarsConnected)',
      '1',
      'Accepted: the policy is valid — Ready: no selected sidecar is connected yet',
    ]);
    expect(rows[1]![1]).toBe('False (Invalid)');
    expect(rows[1]![4]).toMatch(/permission/);
  });
});
