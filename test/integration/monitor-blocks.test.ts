// Blocks end to end: a local-mode control plane in this process (so that the test can add and
// lift blocks on its BlockList) and a real `lanyard sidecar` process in front of an app. A block
// of the caller's principal, of a user or of a token id reaches the sidecar over the real gRPC
// block stream and is enforced; it ends at its expiry or when lifted. The events the control
// plane receives for denied requests carry the caller's address and the token id.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaClient, type Svid } from '../../ca/client/ca-client.ts';
import { startControlPlane, type ControlPlane } from '../../controller/control-plane.ts';
import type { MonitorEvent } from '../../controller/monitor/event.ts';
import { systemClock } from '../../lib/clock.ts';
import { eventually } from '../helpers/eventually.ts';
import { runLanyard, type RunningProcess } from '../helpers/mesh-processes.ts';
import { freePorts } from '../helpers/ports.ts';

const NS = 'shop';
const ISSUER = 'https://login.shop.test';
const DRIVER = `spiffe://cluster.local/ns/${NS}/sa/driver`;
const scratch = mkdtempSync(join(tmpdir(), 'lanyard-monitor-blocks-'));
let controlPlane: ControlPlane;
let sidecar: RunningProcess;
let driver: CaClient;
let svid: Svid;
let app: Server;
let inboundPort: number;
let signUser: (sub: string, jti: string, expiresInS?: number) => Promise<string>;
const received: MonitorEvent[] = [];

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  signUser = (sub, jti, expiresInS = 300) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ aud: 'orders' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setSubject(sub)
      .setJti(jti)
      .setIssuedAt(now - 600)
      .setExpirationTime(now + expiresInS)
      .sign(privateKey);
  };
  const policies = join(scratch, 'policies');
  mkdirSync(policies);
  mkdirSync(join(scratch, 'state'));
  writeFileSync(
    join(policies, 'orders.yaml'),
    JSON.stringify({
      apiVersion: 'lanyard.dev/v1alpha1',
      kind: 'AuthPolicy',
      metadata: { name: 'orders', namespace: NS },
      spec: {
        selector: { matchLabels: { app: 'orders' } },
        userTokens: [{ issuer: ISSUER, jwks: JSON.stringify({ keys: [jwk] }), audiences: ['orders'] }],
        action: 'ALLOW',
        rules: [{ name: 'driver-reads', from: [{ principals: [DRIVER] }], to: [{ methods: ['GET'] }] }],
      },
    }),
  );
  const workload = (name: string) => ({ name, namespace: NS, serviceAccount: name, labels: { app: name } });
  controlPlane = await startControlPlane({
    source: {
      kind: 'folder',
      dir: policies,
      workloads: [workload('orders'), workload('driver')],
      stateDir: join(scratch, 'state'),
    },
    host: '127.0.0.1',
    port: 0,
  });
  // A tap on what the control plane's EventService hands to its pipeline: the events as received,
  // validated and attributed.
  const options = (
    controlPlane.monitor.service as unknown as { options: { process: (e: MonitorEvent) => void } }
  ).options;
  const process = options.process;
  options.process = (event) => {
    received.push(event);
    process(event);
  };

  app = createServer((_req, res) => res.end('orders'));
  const appPort = await new Promise<number>((resolve) =>
    app.listen(0, '127.0.0.1', () => resolve((app.address() as { port: number }).port)),
  );
  const [inbound, outbound, admin] = await freePorts(3);
  inboundPort = inbound!;
  const rootsFile = join(scratch, 'roots.pem');
  writeFileSync(rootsFile, controlPlane.rootsPem());
  sidecar = runLanyard(['sidecar'], {
    ...globalThis.process.env,
    LANYARD_CONTROL_PLANE: controlPlane.address,
    LANYARD_CONTROL_PLANE_ID: controlPlane.spiffeId,
    LANYARD_ROOTS_FILE: rootsFile,
    LANYARD_POD_NAME: 'orders',
    LANYARD_JOIN_TOKEN: controlPlane.joinToken('orders'),
    LANYARD_APP_PORT: String(appPort),
    LANYARD_INBOUND_PORT: String(inbound),
    LANYARD_OUTBOUND_PORT: String(outbound),
    LANYARD_ADMIN_PORT: String(admin),
    LANYARD_BIND_ADDRESS: '127.0.0.1',
  });
  await sidecar
    .line((line) => line.includes('block snapshot loaded'), 90_000)
    .catch((error: Error) => {
      throw new Error(`${error.message}; its output:\n${sidecar.output()}`);
    });
  driver = new CaClient({
    address: controlPlane.address,
    caSpiffeId: controlPlane.spiffeId,
    bootstrapRootsPem: controlPlane.rootsPem(),
    credential: () => Promise.resolve({ kind: 'join-token', token: controlPlane.joinToken('driver') }),
    clock: systemClock,
  });
  svid = await driver.start();
  await eventually(async () => (await call()) === 200, 'the sidecar serving', 60_000, 200);
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  driver?.stop();
  await controlPlane?.close();
  app?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** One GET from the driver over mTLS, from the given loopback address; resolves with the status. */
function call(token?: string, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: inboundPort,
        path: '/orders/1',
        localAddress,
        agent: false,
        cert: svid.certChainPem,
        key: svid.privateKeyPem,
        ca: controlPlane.rootsPem(),
        // The sidecar is recognised by its SPIFFE ID, not a DNS name.
        checkServerIdentity: () => undefined,
        headers: token ? { authorization: `Bearer ${token}` } : {},
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

/** Calls until the status is `status`; returns how long that took (reported, never asserted). */
async function until(status: number, what: string, token?: string, localAddress?: string): Promise<number> {
  const started = performance.now();
  await eventually(async () => (await call(token, localAddress)) === status, what, 30_000, 20);
  return performance.now() - started;
}

const decisions = () => sidecar.logLines().filter((line) => line.msg === 'decision');

describe('blocks pushed to a real sidecar', () => {
  it('refuses a blocked principal within about a second, and allows it again once lifted', async () => {
    const blocks = controlPlane.monitor.blocks;
    const block = blocks.add({ type: 'principal', value: DRIVER }, 60_000, 'integration test', 'operator');
    const latencyMs = await until(403, 'the principal block enforced');
    console.log(`add-to-enforced latency (principal block): ${latencyMs.toFixed(0)} ms`);
    const line = await eventually(
      () => decisions().find((entry) => entry.reason === 'BLOCKED'),
      'the BLOCKED decision in the log',
    );
    expect(line).toMatchObject({ peer: DRIVER, status: 403, block: { id: block.id, type: 'principal' } });
    blocks.lift(block.id);
    const liftMs = await until(200, 'the lift enforced');
    console.log(`lift-to-allowed latency: ${liftMs.toFixed(0)} ms`);
  });

  it('refuses a blocked user until the block expires', async () => {
    const alice = await signUser('alice', 'jti-alice-1');
    const bob = await signUser('bob', 'jti-bob-1');
    expect(await call(alice)).toBe(200);
    const block = controlPlane.monitor.blocks.add(
      { type: 'user', value: 'alice' },
      15_000,
      'test',
      'detector',
    );
    const latencyMs = await until(403, 'the user block enforced', alice);
    console.log(`add-to-enforced latency (user block): ${latencyMs.toFixed(0)} ms`);
    // Another user, and alice with a fresh token, are told apart by the verified subject only.
    expect(await call(bob)).toBe(200);
    expect(await call(await signUser('alice', 'jti-alice-2'))).toBe(403);
    await until(200, 'the user block expired', alice);
    expect(Date.now()).toBeGreaterThanOrEqual(block.expiresMs - 1000);
  });

  it('refuses a blocked token id, not the same user with another token; the events carry address and token id', async () => {
    const stolen = await signUser('carol', 'jti-stolen');
    const fresh = await signUser('carol', 'jti-fresh');
    const blocks = controlPlane.monitor.blocks;
    const block = blocks.add({ type: 'token', value: 'jti-stolen' }, 60_000, 'test', 'operator');
    const latencyMs = await until(403, 'the token block enforced', stolen, '127.0.0.2');
    console.log(`add-to-enforced latency (token block): ${latencyMs.toFixed(0)} ms`);
    expect(await call(fresh)).toBe(200);

    // The event of a refused (blocked) request: from the second loopback address, naming the token.
    const denied = await eventually(
      () => received.find((event) => event.reason === 'BLOCKED' && event.tokenId === 'jti-stolen'),
      'the BLOCKED event at the control plane',
      30_000,
    );
    expect(denied).toMatchObject({
      reporter: 'spiffe://cluster.local/ns/shop/sa/orders',
      peer: DRIVER,
      user: 'carol',
      issuer: ISSUER,
      decision: 'DENY',
      status: 403,
      source: '127.0.0.2',
      policy: 'lanyard-block',
      rule: block.id,
    });
    blocks.lift(block.id);
    await until(200, 'the token block lifted', stolen);

    // An expired token: refused 401, its event names the address, a digest id and the failure.
    const expired = await signUser('dave', 'jti-expired', -120);
    expect(await call(expired, '127.0.0.3')).toBe(401);
    const refused = await eventually(
      () => received.find((event) => event.reason === 'ERR_JWT_EXPIRED' && event.source === '127.0.0.3'),
      'the expired-token event at the control plane',
      30_000,
    );
    expect(refused.tokenFailure).toBe('EXPIRED');
    // Not the claimed jti of a token that did not verify, and never the token itself.
    expect(refused.tokenId).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(JSON.stringify(received)).not.toContain(expired);
    expect(sidecar.output()).not.toContain(expired);
  });
});
