// A real `lanyard sidecar` process for integration tests, configured through its environment as
// the injection webhook configures it, logging to a file, ready when its admin /ready says so.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';

const lanyard = fileURLToPath(new URL('../../bin/lanyard.js', import.meta.url));

export interface SidecarProcessOptions {
  controlPlaneAddress: string;
  controlPlaneId: string;
  rootsPem: string;
  podName: string;
  tokenPath: string;
  appPort: number;
  /** Where the roots file and the log go. */
  dir: string;
  /** Extra environment, e.g. NODE_EXTRA_CA_CERTS for the JWKS servers a test runs. */
  env?: Record<string, string>;
}

export interface SidecarProcess {
  readonly inboundPort: number;
  readonly logFile: string;
  /** Resolves once /ready answers 200 (an SVID and a policy snapshot); rejects if it exits. */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function adminStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/ready', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('admin /ready timed out')));
    req.on('error', reject);
  });
}

export async function startSidecarProcess(options: SidecarProcessOptions): Promise<SidecarProcess> {
  const [inboundPort, outboundPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const rootsFile = join(options.dir, `${options.podName}.roots.pem`);
  writeFileSync(rootsFile, options.rootsPem);
  const logFile = join(options.dir, `${options.podName}.log`);
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [lanyard, 'sidecar'], {
    env: {
      PATH: process.env.PATH ?? '',
      LANYARD_CONTROL_PLANE: options.controlPlaneAddress,
      LANYARD_CONTROL_PLANE_ID: options.controlPlaneId,
      LANYARD_ROOTS_FILE: rootsFile,
      LANYARD_POD_NAME: options.podName,
      LANYARD_TOKEN_PATH: options.tokenPath,
      LANYARD_APP_PORT: String(options.appPort),
      LANYARD_INBOUND_PORT: String(inboundPort),
      LANYARD_OUTBOUND_PORT: String(outboundPort),
      LANYARD_ADMIN_PORT: String(adminPort),
      LANYARD_BIND_ADDRESS: '127.0.0.1',
      ...options.env,
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited (code ${code}, signal ${signal})`;
      resolve();
    }),
  );
  const tail = () => readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');

  return {
    inboundPort,
    logFile,
    async ready(timeoutMs = 60_000) {
      try {
        await eventually(
          async () => {
            if (exited) throw new Error(`sidecar ${options.podName} ${exited}`);
            return (await adminStatus(adminPort)) === 200;
          },
          `sidecar ${options.podName} ready`,
          timeoutMs,
          100,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- ${logFile}:\n${tail()}`, { cause: error });
      }
    },
    async close() {
      if (exited) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    },
  };
}
