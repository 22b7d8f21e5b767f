// Issue #11's attacks replayed end to end: a control plane in Kubernetes mode on the real API
// server, a real `lanyard sidecar` process (bound to a Pod through a TokenRequest token) in front
// of an app, and external callers on other loopback addresses that a country table places in
// Great Britain, the United States and France. A user token stolen and used from another country
// is detected, becomes a Warning Event on the Lease and an AuthBlock, is refused by the sidecar
// until the block expires, and the leader deletes the expired object. A burst of forged tokens
// is detected for its source address, which is never blocked. Chromium watches the dashboard.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import type { DashboardHandle } from '../../controller/dashboard/index.ts';
import { AUTHBLOCK, blockName, type AuthBlockObject } from '../../controller/monitor/block-object.ts';
import type { BlockTarget } from '../../controller/monitor/blocks.ts';
import { parseCountryTable } from '../../controller/monitor/country.ts';
import type { Response } from '../../controller/monitor/responder.ts';
import { apiStatus } from '../../kube/api-errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { eventually } from '../helpers/eventually.ts';
import { kubeConfig, kubectl, readAuthPolicy, uniqueName } from '../helpers/kube.ts';
import { createPod, podTokenFile } from '../helpers/mesh-pods.ts';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.ts';
import { createTestKey, jwksOf, signToken, type TestKey } from '../helpers/sidecar-jwt.ts';

const screenshot = fileURLToPath(new URL('../../docs/images/dashboard-attack.png', import.meta.url));
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
const ISSUER = 'https://login.portal.test';
const GB = '127.0.0.2';
const US = '127.0.0.3';
const FR = '127.0.0.4';
const BLOCK_TTL_MS = 20_000;
const FORGED = 6;

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const system = uniqueName('attack-system');
const workloads = uniqueName('attack');
const scratch = mkdtempSync(join(tmpdir(), 'lanyard-attack-replay-'));

interface LogEntry {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}
const logged: LogEntry[] = [];
const entry =
  (level: string) =>
  (fields: Record<string, unknown>, message: string): void => {
    logged.push({ level, fields, message });
  };
const captureLog: Logger = {
  debug: () => undefined,
  info: entry('info'),
  warn: entry('warn'),
  error: entry('error'),
};

let controlPlane: ControlPlane;
let dashboard: DashboardHandle;
let sidecar: SidecarProcess;
let app: Server;
let key: TestKey;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];
/** Every response of the control plane's responder, with when (performance.now()) it happened. */
const responses: { response: Response; atMs: number }[] = [];

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

function repoPath(path: string): string {
  return fileURLToPath(new URL(`../../${path}`, import.meta.url));
}

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install -y chromium)');
  for (const [file, crd] of [
    ['authpolicy', 'authpolicies'],
    ['authblock', 'authblocks'],
  ]) {
    await kubectl(['apply', '--server-side', '-f', repoPath(`crds/${file}.yaml`)]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd}.lanyard.dev`]);
  }
  for (const name of [system, workloads]) await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedServiceAccount({ namespace: workloads, body: { metadata: { name: 'portal' } } });

  controlPlane = await startControlPlane({
    source: { kind: 'kubernetes', kubeConfig: kc, namespace: system, identity: 'replica-1' },
    // Mesh-wide policies of other tests (in lanyard-system) must not reach this workload.
    compile: { rootNamespace: system },
    host: '127.0.0.1',
    port: 0,
    log: captureLog,
    monitor: {
      // Small thresholds for a test; windows are long enough that nothing fires twice.
      detectors: {
        tokenCountries: { threshold: 2, windowMs: 10 * 60_000 },
        badTokens: { threshold: FORGED - 1, windowMs: 60_000, kinds: ['BAD_SIGNATURE', 'UNKNOWN_KEY'] },
      },
      // bad-tokens is listed too: even so, its subject (a source address) must never be blocked.
      autoBlock: { kinds: ['token-countries', 'bad-tokens'], ttlMs: BLOCK_TTL_MS },
      countries: parseCountryTable(`${GB}/32,GB\n${US}/32,US\n${FR}/32,FR\n`),
    },
  });
  controlPlane.monitor.responder.onResponse((response) =>
    responses.push({ response, atMs: performance.now() }),
  );
  dashboard = await controlPlane.startDashboard({ port: 0 });

  key = await createTestKey('ES256', 'portal-key');
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'lanyard.dev/v1alpha1',
      kind: 'AuthPolicy',
      metadata: { name: 'portal', namespace: workloads },
      spec: {
        selector: { matchLabels: { app: 'portal' } },
        // External clients reach the portal in plaintext, each from its own address.
        mtls: 'PERMISSIVE',
        userTokens: [{ issuer: ISSUER, jwks: JSON.stringify(jwksOf(key)), audiences: ['portal'] }],
        action: 'ALLOW',
        rules: [{ name: 'signed-in-users', when: [{ claim: ['sub'], present: true }] }],
      },
    }),
  );
  await eventually(
    async () => {
      const stored = await readAuthPolicy(workloads, 'portal');
      return stored.status?.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True');
    },
    'the portal AuthPolicy Accepted',
    60_000,
  );

  app = createServer((_req, res) => res.end('portal'));
  const appPort = await listen(app);
  const pod = { namespace: workloads, name: 'portal-0', serviceAccount: 'portal', labels: { app: 'portal' } };
  const uid = await createPod(core, pod);
  sidecar = await startSidecarProcess({
    controlPlaneAddress: controlPlane.address,
    controlPlaneId: controlPlane.spiffeId,
    rootsPem: controlPlane.rootsPem(),
    podName: pod.name,
    tokenPath: await podTokenFile(core, pod, uid, scratch),
    appPort,
    dir: scratch,
  });
  await sidecar.ready(90_000);
  // From 127.0.0.1 (no country): the policy has reached the sidecar.
  const warmUp = await userToken('warm-up', 'jti-warm-up');
  await eventually(async () => (await call(warmUp, '127.0.0.1')) === 200, 'the portal serving', 60_000, 200);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(dashboard.url);
  await page.getByLabel('Login token').fill(dashboard.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Lanyard dashboard' }).waitFor();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await sidecar?.close();
  await controlPlane?.close();
  app?.close();
  for (const name of [workloads, system]) await core.deleteNamespace({ name }).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});

function userToken(sub: string, jti: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signToken(key, { iss: ISSUER, aud: 'portal', sub, jti, iat: now, exp: now + 600 });
}

/** One plaintext GET to the sidecar's inbound port from `localAddress`; resolves with the status. */
function call(token: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: sidecar.inboundPort,
        path: '/account',
        localAddress,
        agent: false,
        headers: { authorization: `Bearer ${token}` },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The sidecar's decision log lines (its own record of what it enforced). */
function decisions(): Record<string, unknown>[] {
  return readFileSync(sidecar.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === 'decision');
}

async function readBlockObject(target: BlockTarget): Promise<AuthBlockObject | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({
      ...AUTHBLOCK,
      namespace: system,
      name: blockName(target),
    })) as AuthBlockObject;
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw error;
  }
}

async function leaseEvents(reason: string) {
  const events = await core.listNamespacedEvent({
    namespace: system,
    fieldSelector: `involvedObject.kind=Lease,involvedObject.name=lanyard-controller,reason=${reason}`,
  });
  return events.items;
}

async function rows(id: string): Promise<string[]> {
  return page.locator(`#${id}-table tbody tr`).allInnerTexts();
}

// The burst runs first, so that the screenshot (taken while the token's block is active) shows
// both anomalies.
describe('attacks replayed through a real sidecar', () => {
  it('detects a burst of forged tokens from one address, records an Event and blocks nothing', async () => {
    const forger = await createTestKey('ES256', 'portal-key');
    const stranger = await createTestKey('ES256', 'someone-elses-key');
    const now = Math.floor(Date.now() / 1000);
    const forged = await Promise.all(
      Array.from({ length: FORGED }, (_, i) =>
        // Half signed with a different key under the portal's kid, half under an unknown kid.
        signToken(i % 2 === 0 ? forger : stranger, {
          iss: ISSUER,
          aud: 'portal',
          sub: 'admin',
          jti: `forged-${i}`,
          exp: now + 600,
        }),
      ),
    );
    for (const token of forged) expect(await call(token, FR)).toBe(401);

    const detected = await eventually(
      () => responses.find((r) => r.response.detection.kind === 'bad-tokens')?.response,
      'the bad-tokens detection',
      30_000,
    );
    expect(detected.detection.subject).toEqual({ type: 'source', value: FR });
    expect(detected.detection.count).toBeGreaterThanOrEqual(FORGED - 1);
    expect(detected.block).toBeUndefined();

    const [event] = await eventually(async () => {
      const found = await leaseEvents('BadTokens');
      return found.length > 0 && found;
    }, 'the BadTokens Event on the Lease');
    expect(event).toMatchObject({ type: 'Warning', source: { component: 'lanyard-monitor' } });
    expect(event!.message).toContain(`source "${FR}"`);

    // A source address is reported, never blocked: no block in the list, no AuthBlock object.
    expect(controlPlane.monitor.blocks.snapshot().blocks).toEqual([]);
    const objects = (await custom.listNamespacedCustomObject({ ...AUTHBLOCK, namespace: system })) as {
      items: AuthBlockObject[];
    };
    expect(objects.items).toEqual([]);
    const refused = await eventually(() => {
      const found = decisions().filter((d) => d.source === FR);
      return found.length === FORGED && found;
    }, `${FORGED} refusals from ${FR} in the sidecar log`);
    for (const d of refused) expect(d).toMatchObject({ status: 401, decision: 'DENY' });
    for (const token of forged) {
      expect(readFileSync(sidecar.logFile, 'utf8')).not.toContain(token);
      expect(JSON.stringify(logged)).not.toContain(token);
    }
  });

  it('blocks a token stolen and used from another country until the block expires', async () => {
    const stolen = await userToken('alice', 'jti-alice-laptop');
    const other = await userToken('alice', 'jti-alice-phone');
    const target: BlockTarget = { type: 'token', value: 'jti-alice-laptop' };

    // Alice, at home in Great Britain; then the thief in the United States, seconds later.
    expect(await call(stolen, GB)).toBe(200);
    expect(await call(other, GB)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await call(stolen, US)).toBe(200);

    await eventually(async () => (await call(stolen, US)) === 403, 'the stolen token refused', 30_000, 50);
    const enforcedAt = performance.now();
    const detected = responses.find((r) => r.response.detection.kind === 'token-countries');
    expect(detected).toBeDefined();
    console.log(
      `detection-to-enforced latency (token-countries block, first 403 seen): ${(enforcedAt - detected!.atMs).toFixed(0)} ms`,
    );
    const { detection, block } = detected!.response;
    expect(detection.subject).toEqual(target);
    expect([...((detection.detail?.countries as string[] | undefined) ?? [])].sort()).toEqual(['GB', 'US']);
    expect(block).toMatchObject({ ...target, by: 'detector', reason: 'token-countries' });

    // Token-level: the stolen token is refused from both countries, Alice's other token is not.
    expect(await call(stolen, GB)).toBe(403);
    expect(await call(other, GB)).toBe(200);
    const blocked = await eventually(() => {
      const found = decisions().filter((d) => d.reason === 'BLOCKED' && d.tokenId === target.value);
      return [GB, US].every((source) => found.some((d) => d.source === source)) && found;
    }, 'BLOCKED decisions from both addresses in the sidecar log');
    for (const d of blocked) {
      expect(d).toMatchObject({
        status: 403,
        user: 'alice',
        block: { id: block!.id, type: 'token' },
      });
    }

    // The block as every replica shares it: an AuthBlock object for the token id.
    const object = await eventually(() => readBlockObject(target), 'the AuthBlock object');
    expect(object.spec).toMatchObject({ type: 'token', value: target.value, by: 'detector' });
    expect(Date.parse(object.spec.expiresAt)).toBe(block!.expiresMs);

    // The controller's log line, naming the token id and its block, never the token.
    const line = logged.find((l) => l.fields.detection === 'token-countries');
    expect(line).toMatchObject({
      level: 'warn',
      fields: { subjectType: 'token', subject: target.value, blockId: block!.id },
    });
    expect(JSON.stringify(logged)).not.toContain(stolen);

    // The Warning Event on the leader Lease.
    const [event] = await eventually(async () => {
      const found = await leaseEvents('TokenCountries');
      return found.length > 0 && found;
    }, 'the TokenCountries Event on the Lease');
    expect(event).toMatchObject({ type: 'Warning', source: { component: 'lanyard-monitor' } });
    expect(event!.message).toContain(target.value);

    // The dashboard, while the block is active: both anomalies, the block, the BLOCKED denials.
    await expect
      .poll(async () => (await rows('blocks')).join('\n'), { timeout: 15_000, interval: 250 })
      .toContain(`token\t${target.value}\ttoken-countries\tdetector\t`);
    await expect
      .poll(async () => (await rows('denials')).join('\n'), { timeout: 15_000, interval: 250 })
      .toContain(`\tlanyard-block rule ${block!.id}\tBLOCKED\t403`);
    const anomalies = (await rows('anomalies')).join('\n');
    expect(anomalies).toContain(`\ttoken-countries\ttoken ${target.value}\t`);
    expect(anomalies).toContain(`\tbad-tokens\tsource ${FR}\t`);
    expect(pageErrors).toEqual([]);
    const still = await call(stolen, US);
    expect(still, 'the block lasted through the dashboard checks').toBe(403);
    const shot = join(scratch, 'dashboard-attack.png');
    await page.screenshot({ path: shot, fullPage: true });
    // Only a passing run replaces the screenshot in docs/.
    copyFileSync(shot, screenshot);

    // Expiry: the sidecar allows the token again, and the leader deletes the expired object.
    await eventually(
      async () => (await call(stolen, GB)) === 200,
      'the block expired',
      BLOCK_TTL_MS + 30_000,
      200,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(block!.expiresMs - 1000);
    await eventually(
      async () => (await readBlockObject(target)) === undefined,
      'the expired AuthBlock deleted by the leader',
      60_000,
      500,
    );
    expect(controlPlane.monitor.blocks.snapshot().blocks).toEqual([]);
  });
});
