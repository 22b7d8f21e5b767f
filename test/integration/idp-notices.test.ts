// The identity provider's login anomalies reach the mesh monitor: a local-mode control plane
// with its real HTTP port, and the IdP's real WebhookNotifier posting to it with a bearer
// token. An impossible-travel notice becomes a detection (the tap the dashboard reads) and,
// with automatic blocks on for its kind, a block of the user's subject; a notifier with the
// wrong token is refused and leaves nothing behind; a malformed notice gets a 400 that says why.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import { readIdpNoticeTokenFile } from '../../controller/monitor/idp-notice-route.ts';
import type { Response } from '../../controller/monitor/responder.ts';
import { readWebhookTokenFile, WebhookNotifier, type SecurityNotice } from '../../idp/notify.ts';
import { silentLogger } from '../../lib/logger.ts';

const scratch = mkdtempSync(join(tmpdir(), 'lanyard-idp-notices-'));
const TOKEN = 'mesh-monitor-idp-token-6f1d2c9a8b7e4f30a1b2c3d4e5f60718';
let plane: ControlPlane;
let url: string;
const responses: Response[] = [];

function notifier(token: string): { notifier: WebhookNotifier; registry: Registry } {
  const registry = new Registry();
  return {
    registry,
    notifier: new WebhookNotifier({ url, token, registry, logger: silentLogger, retries: 0 }),
  };
}

async function delivered(registry: Registry, outcome: string): Promise<number> {
  const metric = await registry.getSingleMetric('lanyard_idp_webhook_notices_total')!.get();
  return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

const travel = (userId: string): SecurityNotice => ({
  kind: 'impossible_travel',
  at: Date.now(),
  username: 'alice',
  userId,
  source: '203.0.113.7',
  country: 'JP',
  actions: ['mfa'],
  detail: { distanceKm: 9712, minutesSinceLastLogin: 31, previousCountry: 'FR' },
});

beforeAll(async () => {
  mkdirSync(join(scratch, 'policies'));
  mkdirSync(join(scratch, 'state'));
  // Both sides read the token from a file, as a mounted Secret.
  writeFileSync(join(scratch, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  plane = await startControlPlane({
    source: {
      kind: 'folder',
      dir: join(scratch, 'policies'),
      workloads: [],
      stateDir: join(scratch, 'state'),
    },
    host: '127.0.0.1',
    port: 0,
    httpPort: 0,
    monitor: {
      autoBlock: { kinds: ['idp-impossible-travel'], ttlMs: 10 * 60_000 },
      idpNotices: { token: readIdpNoticeTokenFile(join(scratch, 'token')) },
    },
  });
  url = `http://${plane.httpAddress}/monitor/v1/idp-notices`;
  plane.monitor.responder.onResponse((response) => responses.push(response));
});

afterAll(async () => {
  await plane?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('identity-provider notices on the control plane', () => {
  it('refuses a notifier with the wrong token (401) and records nothing', async () => {
    const { notifier: wrong, registry } = notifier(`${TOKEN.slice(0, -1)}X`);
    wrong.notify(travel('u-mallory'));
    await wrong.close();
    expect(await delivered(registry, 'failed')).toBe(1);
    expect(await delivered(registry, 'delivered')).toBe(0);
    expect(responses).toEqual([]);
    expect(plane.monitor.blocks.list()).toEqual([]);
    const metrics = await plane.registry.metrics();
    expect(metrics).toContain(
      'lanyard_monitor_idp_notices_total{kind="_unknown",outcome="unauthenticated"} 1',
    );
  });

  it('turns an impossible-travel notice into a detection and a block of the user', async () => {
    const { notifier: idp, registry } = notifier(readWebhookTokenFile(join(scratch, 'token')));
    idp.notify(travel('u-alice-42'));
    await idp.close();
    expect(await delivered(registry, 'delivered')).toBe(1);

    expect(responses).toHaveLength(1);
    const [{ detection, block }] = responses as [Response];
    expect(detection).toMatchObject({
      kind: 'idp-impossible-travel',
      subject: { type: 'user', value: 'u-alice-42' },
      detail: { username: 'alice', country: 'JP', previousCountry: 'FR', source: '203.0.113.7' },
    });
    expect(block).toMatchObject({ type: 'user', value: 'u-alice-42', reason: 'idp-impossible-travel' });
    expect(plane.monitor.blocks.list()).toEqual([
      expect.objectContaining({ type: 'user', value: 'u-alice-42', by: 'detector' }),
    ]);
    const metrics = await plane.registry.metrics();
    expect(metrics).toContain('lanyard_monitor_detections_total{kind="idp-impossible-travel"} 1');
    expect(metrics).toContain(
      'lanyard_monitor_idp_notices_total{kind="impossible_travel",outcome="accepted"} 1',
    );
  });

  it('counts a new-device notice without a detection', async () => {
    const { notifier: idp, registry } = notifier(TOKEN);
    idp.notify({ ...travel('u-alice-42'), kind: 'new_device', detail: {} });
    await idp.close();
    expect(await delivered(registry, 'delivered')).toBe(1);
    expect(responses).toHaveLength(1);
    expect(await plane.registry.metrics()).toContain(
      'lanyard_monitor_idp_notices_total{kind="new_device",outcome="accepted"} 1',
    );
  });

  it('answers a malformed notice with 400 and the field at fault', async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ ...travel('u-bob'), at: new Date().toISOString(), source: 'not-an-address' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'ERR_MONITOR_IDP_NOTICE_INVALID',
      message: 'notice.source must be an IPv4 or IPv6 address',
    });
    expect(responses).toHaveLength(1);
    expect(plane.monitor.blocks.list().map((b) => b.value)).toEqual(['u-alice-42']);
  });
});
