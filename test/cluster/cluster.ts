// Starts a real etcd and kube-apiserver on loopback for integration tests, and stops them.
// Nothing here fakes the API server: these are the binaries built by test/cluster/build.sh.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa } from '../helpers/pki.ts';
import { ManagedProcess } from './processes.ts';

/** The prefix of every cluster's temp directory; stale ones are found and reaped by it. */
export const CLUSTER_DIR_PREFIX = 'lanyard-testcluster-';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface TestClusterOptions {
  /** Directory holding kube-apiserver, etcd, kubectl and helm (see ensureClusterBinaries). */
  binDir: string;
  /** Fixed ports; each one left out is a free port chosen at start. */
  ports?: { apiserver?: number; etcdClient?: number; etcdPeer?: number };
  /** How long the API server may take to report /readyz. Default 120 s. */
  readyTimeoutMs?: number;
  /** Where the cluster's temp directory is made. Default: the OS temp directory. */
  baseDir?: string;
  /** Progress messages; default stderr. */
  log?: (message: string) => void;
}

export interface TestCluster {
  /** The temp directory with certificates, data and logs; removed by stop(). */
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly binDir: string;
  readonly pids: number[];
  stop(): Promise<void>;
}

export class TestClusterError extends Error {
  override readonly name = 'TestClusterError';
}

const live = new Set<ManagedProcess>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = () => {
    for (const child of live) child.killNow();
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Kills the processes and removes the directories of clusters whose owner died without
 * cleaning up (e.g. a test run killed with SIGKILL). Returns the directories it removed.
 */
export function reapStaleClusters(baseDir = tmpdir()): string[] {
  const reaped: string[] = [];
  for (const entry of readdirSync(baseDir)) {
    if (!entry.startsWith(CLUSTER_DIR_PREFIX)) continue;
    const dir = join(baseDir, entry);
    let owner: { ownerPid?: number; pids?: number[] } = {};
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as typeof owner;
    } catch {
      // no owner file: a cluster that never got as far as starting a process
    }
    if (owner.ownerPid !== undefined && isAlive(owner.ownerPid)) continue;
    for (const pid of owner.pids ?? []) {
      if (commandLineOf(pid).includes(dir)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  return reaped;
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new TestClusterError('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function httpOk(url: string, tls?: { ca: string; cert: string; key: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const send = tls ? request : httpRequest;
    const req = send(url, { timeout: 2000, ...tls }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(
  what: string,
  deadline: number,
  check: () => Promise<boolean>,
  processes: ManagedProcess[],
): Promise<void> {
  for (;;) {
    const dead = processes.find((child) => !child.running);
    if (dead) {
      throw new TestClusterError(
        `test cluster: ${dead.name} exited while waiting for ${what}; last log lines (${dead.logFile}):\n${dead.lastLines()}`,
      );
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      const last = processes.at(-1)!;
      throw new TestClusterError(
        `test cluster: ${what} not ready in time; last ${last.name} log lines (${last.logFile}):\n${last.lastLines()}`,
      );
    }
    await sleep(250);
  }
}

function kubeconfig(server: string, caPem: string, certPem: string, keyPem: string): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'lanyard-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [
        {
          name: 'lanyard-test-admin',
          user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) },
        },
      ],
      contexts: [{ name: 'lanyard-test', context: { cluster: 'lanyard-test', user: 'lanyard-test-admin' } }],
      'current-context': 'lanyard-test',
    },
    null,
    2,
  );
}

/** Starts etcd and kube-apiserver on loopback, waits for /readyz and writes a kubeconfig. */
export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`));
  const baseDir = options.baseDir ?? tmpdir();
  for (const bin of ['etcd', 'kube-apiserver']) {
    if (!existsSync(join(options.binDir, bin))) {
      throw new TestClusterError(
        `test cluster: ${bin} not found in ${options.binDir}; run npm run cluster:build`,
      );
    }
  }
  installExitHooks();
  reapStaleClusters(baseDir);

  const dir = mkdtempSync(join(baseDir, CLUSTER_DIR_PREFIX));
  liveDirs.add(dir);
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    for (const child of [...processes].reverse()) {
      await child.stop();
      live.delete(child);
    }
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };

  try {
    const [apiserverPort, etcdClientPort, etcdPeerPort] = await freePorts(3);
    const ports = {
      apiserver: options.ports?.apiserver ?? apiserverPort!,
      etcdClient: options.ports?.etcdClient ?? etcdClientPort!,
      etcdPeer: options.ports?.etcdPeer ?? etcdPeerPort!,
    };

    const ca = await createTestCa('lanyard-test-cluster-ca');
    const serving = await ca.issue({
      subject: 'CN=kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1', '10.96.0.1'],
      usage: 'server',
    });
    const admin = await ca.issue({ subject: 'CN=lanyard-test-admin, O=system:masters', usage: 'client' });
    const serviceAccountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const files = {
      ca: join(dir, 'ca.crt'),
      servingCert: join(dir, 'apiserver.crt'),
      servingKey: join(dir, 'apiserver.key'),
      saKey: join(dir, 'sa.key'),
      saPub: join(dir, 'sa.pub'),
    };
    writeFileSync(files.ca, ca.certPem);
    writeFileSync(files.servingCert, serving.certPem);
    writeFileSync(files.servingKey, serving.keyPem, { mode: 0o600 });
    writeFileSync(files.saKey, serviceAccountKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    writeFileSync(files.saPub, serviceAccountKey.publicKey.export({ type: 'spki', format: 'pem' }));

    const recordOwner = () =>
      writeFileSync(
        join(dir, 'owner.json'),
        JSON.stringify({ ownerPid: process.pid, pids: processes.map((child) => child.pid) }),
      );
    const launch = (name: string, args: string[]) => {
      const child = new ManagedProcess(name, join(options.binDir, name), args, join(dir, `${name}.log`));
      processes.push(child);
      live.add(child);
      recordOwner();
      return child;
    };
    const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);

    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    launch('etcd', [
      '--name=lanyard-test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=lanyard-test=${peerUrl}`,
      '--unsafe-no-fsync', // throwaway data: durability buys nothing and costs seconds
      '--log-level=warn',
    ]);
    await waitUntil('etcd', deadline, () => httpOk(`${etcdUrl}/health`), processes);

    launch('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none', // the default refuses a loopback advertise address
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${files.servingCert}`,
      `--tls-private-key-file=${files.servingKey}`,
      `--client-ca-file=${files.ca}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--api-audiences=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${files.saPub}`,
      `--service-account-signing-key-file=${files.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ]);
    const server = `https://127.0.0.1:${ports.apiserver}`;
    const tls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };
    await waitUntil('kube-apiserver /readyz', deadline, () => httpOk(`${server}/readyz`, tls), processes);

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfig(server, ca.certPem, admin.certPem, admin.keyPem), {
      mode: 0o600,
    });
    log(`test cluster: kube-apiserver ready at ${server} (kubeconfig ${kubeconfigPath})`);
    return {
      dir,
      kubeconfigPath,
      server,
      binDir: options.binDir,
      pids: processes.map((child) => child.pid!),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
