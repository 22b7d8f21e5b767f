// `lanyard dev`'s mesh on one machine: the built-in identity provider (the user-token issuer),
// the control plane in local mode (AuthPolicies from a folder, identities by join tokens), three
// demo services each behind its own sidecar, and a traffic driver with a workload identity of
// its own. Everything listens on loopback.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { CaClient } from '../ca/client/ca-client.ts';
import { startControlPlane, type ControlPlane, type LocalWorkload } from '../controller/control-plane.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { DecisionRecord } from '../sidecar/app-forwarder.ts';
import type { SidecarConfig } from '../sidecar/config.ts';
import { startSidecar, type RunningSidecar } from '../sidecar/sidecar.ts';
import { startOrders, startPayments, startWeb, type AppHandle } from './apps.ts';
import { startDevIdp, type DevIdp } from './idp.ts';
import { DemoSessions, type SessionEvent } from './sessions.ts';

export const DEMO_NAMESPACE = 'demo';
const workload = (name: string): LocalWorkload => ({
  name,
  namespace: DEMO_NAMESPACE,
  serviceAccount: name,
  labels: { app: name },
});
export const DEMO_WORKLOADS = ['web', 'orders', 'payments', 'driver'].map(workload);
export const EXAMPLE_POLICIES = new URL('../examples/dev/', import.meta.url);

export interface DevMeshOptions {
  /** Where state (CA key, materialized policies) lives. */
  stateDir: string;
  /** A folder of AuthPolicies to use as they are; default: examples/dev naming the dev IdP. */
  policiesDir?: string;
  /** Each sidecar's decisions, as they happen. */
  onDecision?: (workload: string, record: DecisionRecord) => void;
  /** Each sign-in, refresh and enrolment of the demo users (never a token). */
  onSession?: (event: SessionEvent) => void;
  log?: Logger;
}

export interface DriverResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface DevMesh {
  readonly policiesDir: string;
  readonly controlPlane: ControlPlane;
  /** The built-in IdP that issues the demo users' tokens. */
  readonly idp: DevIdp;
  /** The demo users' sessions with the IdP. */
  readonly sessions: DemoSessions;
  /** The driver's call to web, over mTLS with the driver's SVID. */
  call(method: string, path: string, token?: string): Promise<DriverResponse>;
  close(): Promise<void>;
}

/** Copies the example policies, filling in the IdP's issuer URL (its port changes every run). */
function materializePolicies(target: string, issuer: string): void {
  mkdirSync(target, { recursive: true });
  const source = EXAMPLE_POLICIES.pathname;
  for (const name of readdirSync(source).filter((file) => file.endsWith('.yaml'))) {
    const text = readFileSync(join(source, name), 'utf8').replaceAll('https://__DEV_IDP__', issuer);
    writeFileSync(join(target, name), text);
  }
}

function decisionLogger(workload: string, base: Logger, onDecision?: DevMeshOptions['onDecision']): Logger {
  return {
    ...base,
    info: (fields, message) => {
      if (message === 'decision') onDecision?.(workload, fields as unknown as DecisionRecord);
      else base.info({ workload, ...fields }, message);
    },
  };
}

export async function startDevMesh(options: DevMeshOptions): Promise<DevMesh> {
  const log = options.log ?? silentLogger;
  mkdirSync(options.stateDir, { recursive: true });
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const step of closers.reverse()) await step();
  };
  try {
    const idp = await startDevIdp({ stateDir: options.stateDir, log });
    closers.push(() => idp.close());
    let policiesDir = options.policiesDir;
    // A user's folder is used in place, so that editing it changes decisions.
    if (!policiesDir) {
      policiesDir = join(options.stateDir, 'policies');
      materializePolicies(policiesDir, idp.issuer);
    }
    const controlPlane = await startControlPlane({
      source: { kind: 'folder', dir: policiesDir, workloads: DEMO_WORKLOADS, stateDir: options.stateDir },
      host: '127.0.0.1',
      port: 0,
      log,
    });
    closers.push(() => controlPlane.close());

    const sidecars = new Map<string, RunningSidecar>();
    const startFor = async (name: string, app: AppHandle, routes: SidecarConfig['routes']) => {
      const config: SidecarConfig = {
        trustDomain: 'cluster.local',
        controlPlaneAddress: controlPlane.address,
        controlPlaneId: controlPlane.spiffeId,
        bootstrapRootsPem: controlPlane.rootsPem(),
        podName: name,
        credential: { kind: 'join-token', token: controlPlane.joinToken(name) },
        appPort: app.port,
        inboundPort: 0,
        outboundPort: 0,
        adminPort: 0,
        bindAddress: '127.0.0.1',
        routes,
        // The sidecars fetch the IdP's JWKS over https; its certificate comes from a dev CA.
        jwksCaPem: idp.caPem,
      };
      const sidecar = await startSidecar(config, { log: decisionLogger(name, log, options.onDecision) });
      sidecars.set(name, sidecar);
      closers.push(() => sidecar.close());
      return sidecar;
    };
    const route = (host: string, name: string) => {
      const target = sidecars.get(name)!;
      return [
        `${host}:80`,
        { address: '127.0.0.1', port: target.ports.inbound, spiffeId: target.spiffeId },
      ] as const;
    };

    const paymentsApp = await startPayments();
    closers.push(() => paymentsApp.close());
    await startFor('payments', paymentsApp, new Map());
    const ordersApp = await startOrders(() => sidecars.get('orders')!.ports.outbound);
    closers.push(() => ordersApp.close());
    await startFor('orders', ordersApp, new Map([route('payments.demo', 'payments')]));
    const webApp = await startWeb(() => sidecars.get('web')!.ports.outbound);
    closers.push(() => webApp.close());
    await startFor('web', webApp, new Map([route('orders.demo', 'orders')]));

    // The driver is a workload too: it gets an SVID and calls web over mTLS.
    const driver = new CaClient({
      address: controlPlane.address,
      caSpiffeId: controlPlane.spiffeId,
      bootstrapRootsPem: controlPlane.rootsPem(),
      credential: () => Promise.resolve({ kind: 'join-token', token: controlPlane.joinToken('driver') }),
      clock: systemClock,
      logger: log,
    });
    const svid = await driver.start();
    closers.push(() => driver.stop());
    const agent = new Agent({
      keepAlive: true,
      cert: svid.certChainPem,
      key: svid.privateKeyPem,
      ca: controlPlane.rootsPem(),
      // The server is checked by its SPIFFE ID below, not by a DNS name.
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === `URI:${sidecars.get('web')!.spiffeId}` ? undefined : new Error('not web'),
    });
    closers.push(() => agent.destroy());

    for (const [name, sidecar] of sidecars) {
      const deadline = Date.now() + 15_000;
      while (sidecar.notReadyReason() !== undefined) {
        if (Date.now() > deadline) throw new Error(`sidecar ${name} not ready: ${sidecar.notReadyReason()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    const sessions = new DemoSessions(idp, options.onSession);
    await sessions.prepare();

    const web = sidecars.get('web')!;
    return {
      policiesDir,
      controlPlane,
      idp,
      sessions,
      call: (method, path, token) =>
        new Promise((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: web.ports.inbound,
              method,
              path,
              agent,
              headers: { host: 'web.demo', ...(token ? { authorization: `Bearer ${token}` } : {}) },
              timeout: 10_000,
            },
            (res) => {
              let body = '';
              res.on('data', (chunk: Buffer) => (body += chunk.toString()));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
            },
          );
          req.on('timeout', () => req.destroy(new Error('timed out')));
          req.on('error', reject);
          req.end();
        }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
