// `lanyard controller` as operators run it (a real process, configured by its environment,
// against the real API server) with the identity-provider notice receiver on: the token comes
// from LANYARD_MONITOR_IDP_TOKEN_FILE, the IdP's real WebhookNotifier posts an impossible-travel
// notice, and the user is blocked cluster-wide (an AuthBlock object) with a Warning Event
// `IdpImpossibleTravel` on the controller's Lease. The token never appears in the output.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WebhookNotifier } from '../../idp/notify.ts';
import { silentLogger } from '../../lib/logger.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, uniqueName } from '../helpers/kube.ts';
import { runLanyard, type RunningProcess } from '../helpers/mesh-processes.ts';
import { freePorts } from '../helpers/ports.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const namespace = uniqueName('lanyard-idp');
const scratch = mkdtempSync(join(tmpdir(), 'lanyard-idp-controller-'));
const TOKEN = 'controller-idp-notice-token-9f8e7d6c5b4a39281706f5e4';
let controller: RunningProcess;
let httpPort: number;

beforeAll(async () => {
  for (const crd of ['authpolicy', 'authblock']) {
    await kubectl(['apply', '--server-side', '-f', `${root}crds/${crd}.yaml`]);
  }
  await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/authpolicies.lanyard.dev',
    'crd/authblocks.lanyard.dev',
  ]);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  writeFileSync(join(scratch, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  const [grpcPort, http] = await freePorts(2);
  httpPort = http!;
  controller = runLanyard(['controller'], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KUBECONFIG: inject('kubeconfig'),
    POD_NAMESPACE: namespace,
    POD_NAME: 'controller-0',
    LANYARD_GRPC_PORT: String(grpcPort),
    LANYARD_HTTP_PORT: String(httpPort),
    LANYARD_WEBHOOK_PORT: '0',
    LANYARD_MONITOR_GEOIP: 'off',
    LANYARD_MONITOR_AUTOBLOCK_KINDS: 'idp-impossible-travel',
    LANYARD_MONITOR_AUTOBLOCK_TTL: '10m',
    LANYARD_MONITOR_IDP_TOKEN_FILE: join(scratch, 'token'),
  });
  await controller.line((line) => line.includes('control plane serving'), 120_000);
});

afterAll(async () => {
  await controller?.stop();
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});

describe('lanyard controller with LANYARD_MONITOR_IDP_TOKEN_FILE', () => {
  it('blocks the user of an impossible-travel notice and records a Warning Event', async () => {
    const registry = new Registry();
    const idp = new WebhookNotifier({
      url: `http://127.0.0.1:${httpPort}/monitor/v1/idp-notices`,
      token: TOKEN,
      registry,
      logger: silentLogger,
      retries: 0,
    });
    idp.notify({
      kind: 'impossible_travel',
      at: Date.now(),
      username: 'carol',
      userId: 'u-carol-7',
      source: '198.51.100.23',
      country: 'BR',
      actions: ['mfa'],
      detail: { distanceKm: 9100, minutesSinceLastLogin: 12, previousCountry: 'SE' },
    });
    await idp.close();
    const delivered = (await registry.getSingleMetric('lanyard_idp_webhook_notices_total')!.get()).values;
    expect(delivered.find((v) => v.labels.outcome === 'delivered')?.value).toBe(1);

    const block = await eventually(async () => {
      const list = (await custom.listNamespacedCustomObject({
        group: 'lanyard.dev',
        version: 'v1alpha1',
        namespace,
        plural: 'authblocks',
      })) as { items: { spec: { type: string; value: string; reason: string; by: string } }[] };
      return list.items.find((item) => item.spec.value === 'u-carol-7');
    }, 'an AuthBlock of the user');
    expect(block.spec).toMatchObject({ type: 'user', reason: 'idp-impossible-travel', by: 'detector' });

    const event = await eventually(async () => {
      const events = await core.listNamespacedEvent({ namespace });
      return events.items.find((item) => item.reason === 'IdpImpossibleTravel');
    }, 'a Warning Event on the Lease');
    expect(event).toMatchObject({
      type: 'Warning',
      involvedObject: { kind: 'Lease', name: 'lanyard-controller' },
    });
    expect(event.message).toContain('u-carol-7');

    const warning = controller
      .logLines()
      .find((line) => line.detection === 'idp-impossible-travel' && line.subject === 'u-carol-7');
    expect(warning).toBeDefined();
    expect(controller.output()).not.toContain(TOKEN);
  });

  it('refuses a notice with another token and blocks nothing', async () => {
    const response = await fetch(`http://127.0.0.1:${httpPort}/monitor/v1/idp-notices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN.toUpperCase()}` },
      body: JSON.stringify({
        kind: 'impossible_travel',
        at: new Date().toISOString(),
        username: 'dave',
        userId: 'u-dave',
        source: '198.51.100.24',
        country: null,
        actions: [],
        detail: {},
      }),
    });
    expect(response.status).toBe(401);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toContain(
      'lanyard_monitor_idp_notices_total{kind="_unknown",outcome="unauthenticated"} 1',
    );
    const list = (await custom.listNamespacedCustomObject({
      group: 'lanyard.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'authblocks',
    })) as { items: { spec: { value: string } }[] };
    expect(list.items.map((item) => item.spec.value)).toEqual(['u-carol-7']);
  });
});
