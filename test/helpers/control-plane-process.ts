// A local-mode control plane (CA + policy stream from a folder, identities by join tokens) as
// its own process, for end-to-end tests that stop and restart it. Run with `node --import tsx`;
// configured by LANYARD_TEST_CONTROL_PLANE (JSON, see ControlPlaneProcessConfig). It prints one
// JSON line on stdout once serving ({address, spiffeId, rootsPem, httpAddress, joinTokens}),
// and stops on SIGTERM. State (the CA's keys) lives in stateDir, so a restart keeps the CA.
import { startControlPlane, type LocalWorkload } from '../../controller/control-plane.ts';

export interface ControlPlaneProcessConfig {
  stateDir: string;
  policiesDir: string;
  workloads: LocalWorkload[];
  port: number;
  httpPort: number;
  /** X.509-SVID lifetime the CA gives by default (and its lower bound). */
  svidTtlMs: number;
}

export interface ControlPlaneReady {
  address: string;
  spiffeId: string;
  rootsPem: string;
  httpAddress: string;
  /** One single-use join token per workload, by workload name. */
  joinTokens: Record<string, string>;
}

const config = JSON.parse(process.env.LANYARD_TEST_CONTROL_PLANE ?? '') as ControlPlaneProcessConfig;
const plane = await startControlPlane({
  source: { kind: 'folder', dir: config.policiesDir, workloads: config.workloads, stateDir: config.stateDir },
  host: '127.0.0.1',
  port: config.port,
  httpPort: config.httpPort,
  ttl: { defaultMs: config.svidTtlMs, minMs: Math.min(config.svidTtlMs, 5 * 60_000) },
});
const ready: ControlPlaneReady = {
  address: plane.address,
  spiffeId: plane.spiffeId,
  rootsPem: plane.rootsPem(),
  httpAddress: plane.httpAddress ?? '',
  joinTokens: Object.fromEntries(config.workloads.map((w) => [w.name, plane.joinToken(w.name)])),
};
process.stdout.write(`${JSON.stringify(ready)}\n`);
const stop = () => void plane.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
