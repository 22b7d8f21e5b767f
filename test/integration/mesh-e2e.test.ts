// The mesh end to end on a real API server: the control plane (CA + policy stream + AuthPolicy
// controller) issues SVIDs to two real sidecars authenticated by Pod-bound ServiceAccount
// tokens; the sidecars carry real mTLS traffic and enforce what `kubectl apply` says.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import type { SidecarConfig } from '../../sidecar/config.ts';
import { startSidecar, type RunningSidecar } from '../../sidecar/sidecar.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, uniqueName, readAuthPolicy } from '../helpers/kube.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const shop = uniqueName('shop');
const system = uniqueName('lanyard-system');
const scratch = mkdtempSync(join(tmpdir(), 'lanyard-e2e-'));
let controlPlane: ControlPlane;
let ordersApp: Server;
let web: RunningSidecar;
let orders: RunningSidecar;

async function podToken(pod: string, serviceAccount: string): Promise<string> {
  const created = await core.createNamespacedPod({
    namespace: shop,
    body: {
      metadata: { name: pod, labels: { app: serviceAccount } },
      spec: {
        serviceAccountName: serviceAccount,
        containers: [{ name: 'app', image: 'example.invalid/app:1' }],
      },
    },
  });
  const issued = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: shop,
    body: {
      spec: {
        audiences: ['lanyard-ca'],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid: created.metadata!.uid },
      },
    },
  });
  const file = join(scratch, `${pod}.token`);
  writeFileSync(file, issued.status!.token, { mode: 0o600 });
  return file;
}

function sidecarConfig(
  pod: string,
  tokenPath: string,
  appPort: number,
  routes: SidecarConfig['routes'],
): SidecarConfig {
  return {
    trustDomain: 'cluster.local',
    controlPlaneAddress: controlPlane.address,
    controlPlaneId: controlPlane.spiffeId,
    bootstrapRootsPem: controlPlane.rootsPem(),
    podName: pod,
    credential: { kind: 'token-file', path: tokenPath },
    appPort,
    inboundPort: 0,
    outboundPort: 0,
    adminPort: 0,
    bindAddress: '127.0.0.1',
    routes,
  };
}

/** The web app calling orders through its own sidecar's outbound port, as the app would. */
function callOrders(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: web.ports.outbound, method, path, headers: { host: 'orders.shop' } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function policy(allowFrom: string) {
  return JSON.stringify({
    apiVersion: 'lanyard.dev/v1alpha1',
    kind: 'AuthPolicy',
    metadata: { name: 'orders', namespace: shop },
    spec: {
      selector: { matchLabels: { app: 'orders' } },
      action: 'ALLOW',
      rules: [
        {
          name: 'callers',
          from: [{ principals: [allowFrom] }],
          to: [{ methods: ['GET'], paths: ['/orders/{id}'] }],
        },
      ],
    },
  });
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', `${root}crds/authpolicy.yaml`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);
  for (const name of [shop, system]) await core.createNamespace({ body: { metadata: { name } } });
  for (const sa of ['web', 'orders']) {
    await core.createNamespacedServiceAccount({ namespace: shop, body: { metadata: { name: sa } } });
  }
  controlPlane = await startControlPlane({
    source: { kind: 'kubernetes', kubeConfig: kc, namespace: system, identity: 'replica-1' },
    host: '127.0.0.1',
    port: 0,
  });

  ordersApp = createServer((req, res) =>
    res.end(JSON.stringify({ path: req.url, peer: req.headers['x-lanyard-peer-id'] ?? null })),
  );
  const ordersAppPort = await new Promise<number>((resolve) =>
    ordersApp.listen(0, '127.0.0.1', () => resolve((ordersApp.address() as { port: number }).port)),
  );
  orders = await startSidecar(
    sidecarConfig('orders-1', await podToken('orders-1', 'orders'), ordersAppPort, new Map()),
  );
  web = await startSidecar(
    sidecarConfig(
      'web-1',
      await podToken('web-1', 'web'),
      1,
      new Map([
        ['orders.shop:80', { address: '127.0.0.1', port: orders.ports.inbound, spiffeId: orders.spiffeId }],
      ]),
    ),
  );
});

afterAll(async () => {
  await web?.close();
  await orders?.close();
  ordersApp?.close();
  await controlPlane?.close();
  rmSync(scratch, { recursive: true, force: true });
  for (const name of [shop, system]) await core.deleteNamespace({ name }).catch(() => undefined);
});

describe('the mesh on a real API server', () => {
  it('issues each sidecar the SVID of its pod ServiceAccount', () => {
    expect(web.spiffeId).toBe(`spiffe://cluster.local/ns/${shop}/sa/web`);
    expect(orders.spiffeId).toBe(`spiffe://cluster.local/ns/${shop}/sa/orders`);
  });

  it('carries a call over mTLS with the verified caller identity (mesh default: allow)', async () => {
    await eventually(
      () =>
        Promise.resolve(
          web.notReadyReason() === undefined && orders.notReadyReason() === undefined ? true : undefined,
        ),
      'both sidecars ready',
    );
    const { status, body } = await callOrders('GET', '/orders/1');
    expect(status).toBe(200);
    expect(JSON.parse(body)).toEqual({ path: '/orders/1', peer: web.spiffeId });
  });

  it('enforces an AuthPolicy applied with kubectl, reports it Ready, and follows edits', async () => {
    await kubectl(['apply', '-f', '-'], policy(web.spiffeId));
    // POST is not allowed by the rule: once the policy arrives, it is refused.
    await eventually(
      async () => ((await callOrders('POST', '/orders/1')).status === 403 ? true : undefined),
      'enforcement',
    );
    expect((await callOrders('GET', '/orders/7')).status).toBe(200);

    const ready = await eventually(async () => {
      const object = await readAuthPolicy(shop, 'orders');
      const condition = object.status?.conditions?.find((c) => c.type === 'Ready');
      return condition?.status === 'True' ? object : undefined;
    }, 'Ready=True');
    expect(ready.status?.selectedWorkloads).toBe(1);
    expect(ready.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('Delivered');

    const edited = Date.now();
    await kubectl(['apply', '-f', '-'], policy(`spiffe://cluster.local/ns/${shop}/sa/someone-else`));
    await eventually(
      async () => ((await callOrders('GET', '/orders/7')).status === 403 ? true : undefined),
      'the edit',
    );
    process.stderr.write(
      `mesh e2e: an AuthPolicy edit was enforced ${Date.now() - edited} ms after kubectl apply\n`,
    );
  });

  it('keeps the last accepted version in force when an edit is refused (never fails open)', async () => {
    const broken = JSON.parse(policy(`spiffe://cluster.local/ns/${shop}/sa/someone-else`)) as {
      spec: { rules: { to: unknown[] }[] };
    };
    broken.spec.rules[0]!.to = [{ permission: 'no-such-permission' }];
    await kubectl(['apply', '-f', '-'], JSON.stringify(broken));
    const refused = await eventually(async () => {
      const object = await readAuthPolicy(shop, 'orders');
      const condition = object.status?.conditions?.find((c) => c.type === 'Accepted');
      return condition?.status === 'False' && object.status?.observedGeneration === object.metadata.generation
        ? condition
        : undefined;
    }, 'Accepted=False for the broken edit');
    expect(refused.message).toMatch(
      /unknown permission "no-such-permission".*last accepted version.*stays in force/,
    );
    // The previous version (only someone-else may call) still holds; a dropped policy would
    // have let web through under the allowing mesh default.
    expect((await callOrders('GET', '/orders/7')).status).toBe(403);
  });
});
