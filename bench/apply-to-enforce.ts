// Benchmark (not a test): npx tsx bench/apply-to-enforce.ts [clients...] [--smoke] (default 10 100 1000)
// The time from `kubectl apply` of an AuthPolicy change (the real kubectl against a real API
// server, started here by the test cluster helpers) to the moment each of N connected
// policy-stream clients has received the snapshot holding the change. The control plane runs
// in its own process (its CPU and RSS are sampled from /proc); the clients are light but speak
// the real PolicyService/Watch protocol: mTLS with their own SVID from the control plane's CA,
// the control plane's SPIFFE ID checked, a Hello naming a real Pod created in bulk, an ACK for
// each snapshot; they read the snapshot's JSON but do not compile it (a sidecar's compile time
// is bench/policy.ts's business, and a thousand of them in one process would be this process's
// CPU, not the control plane's latency). One TLS connection each, all in this process.
// Prints p50/p90/p99/max per N over every client and change.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { credentials } from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startControlPlane } from '../controller/control-plane.ts';
import { verifyPeer } from '../lib/peer.ts';
import { loadPolicyProto, type PolicySnapshotMessage } from '../proto/load-policy.ts';
import { ensureClusterBinaries } from '../test/cluster/binaries.ts';
import { startTestCluster } from '../test/cluster/cluster.ts';
import { createPod, openMeshCa } from '../test/helpers/mesh-pods.ts';
import { machine, SMOKE, writeResult } from './lib/tools.ts';

const CHILD = '--control-plane';
const ROUNDS = SMOKE ? 2 : 10;
const CREATE_CONCURRENCY = 20;
const ROUND_TIMEOUT_MS = 120_000;
const root = fileURLToPath(new URL('../', import.meta.url));

interface Plane {
  address: string;
  spiffeId: string;
  rootsPem: string;
}

/** The child: the control plane alone in its process, so that its CPU and memory are its own. */
async function runControlPlane(kubeconfigPath: string, namespace: string): Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const plane = await startControlPlane({
    source: { kind: 'kubernetes', kubeConfig, namespace, identity: 'bench' },
    compile: { rootNamespace: namespace },
    host: '127.0.0.1',
    port: 0,
  });
  const ready: Plane = { address: plane.address, spiffeId: plane.spiffeId, rootsPem: plane.rootsPem() };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  process.once('SIGTERM', () => void plane.close().then(() => process.exit(0)));
}

interface LightClientOptions {
  plane: Plane;
  podName: string;
  svid: { certChainPem: string; keyPem: string };
  /** The name of the first rule of the first policy of each snapshot received. */
  onSnapshot: (marker: string) => void;
  onError: (reason: string) => void;
}

/** Watches the policy stream as a sidecar does, without compiling; reconnects after an error. */
function startLightClient(options: LightClientOptions): () => void {
  const Service = loadPolicyProto().PolicyService;
  const channel = credentials.createSsl(
    Buffer.from(options.plane.rootsPem),
    Buffer.from(options.svid.keyPem),
    Buffer.from(options.svid.certChainPem),
    {
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const verdict = verifyPeer(new X509Certificate(cert.raw), {
          trustDomains: new Set(['cluster.local']),
          role: 'server',
          expectedId: options.plane.spiffeId,
        });
        return verdict.ok ? undefined : new Error(verdict.reason);
      },
    },
  );
  const client = new Service(options.plane.address, channel, {
    'grpc.ssl_target_name_override': 'lanyard-control-plane',
    'grpc.use_local_subchannel_pool': 1,
  });
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = () => {
    const stream = client.Watch();
    stream.write({ hello: { podName: options.podName } });
    stream.on('data', (message: PolicySnapshotMessage) => {
      const snapshot = JSON.parse(message.snapshotJson) as {
        policies: { spec: { rules?: { name?: string }[] } }[];
      };
      options.onSnapshot(snapshot.policies[0]?.spec.rules?.[0]?.name ?? '');
      stream.write({ ack: { version: message.version } });
    });
    stream.on('error', (error: Error) => {
      if (stopped) return;
      options.onError(error.message.slice(0, 120));
      retry = setTimeout(connect, 1000);
    });
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(retry);
    client.close();
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs `limit` tasks at a time. */
async function inBatches<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** CPU time (ms) and RSS (bytes) of a process, from /proc. */
function usage(pid: number): { cpuMs: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in 1/100 s
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuMs: ticks * 10, rss: rssKb * 1024 };
}

function policy(namespace: string, marker: string): string {
  return JSON.stringify({
    apiVersion: 'lanyard.dev/v1alpha1',
    kind: 'AuthPolicy',
    metadata: { name: 'bench', namespace },
    spec: {
      selector: { matchLabels: { app: 'bench' } },
      action: 'ALLOW',
      rules: [{ name: marker, from: [{ namespaces: [namespace] }] }],
    },
  });
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const sizes = process.argv
    .slice(2)
    .filter((arg) => !arg.startsWith('--'))
    .map(Number);
  const clientCounts = sizes.length > 0 ? sizes : SMOKE ? [3] : [10, 100, 1000];
  const results: Record<string, unknown>[] = [];
  const binDir = await ensureClusterBinaries();
  const cluster = await startTestCluster({ binDir, log: () => undefined });
  let plane: ChildProcess | undefined;
  try {
    const kubectl = (args: string[], input?: string) =>
      new Promise<void>((resolve, reject) => {
        const child = execFile(
          join(binDir, 'kubectl'),
          ['--kubeconfig', cluster.kubeconfigPath, ...args],
          { timeout: 60_000 },
          (error, _stdout, stderr) =>
            error ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(),
        );
        if (input !== undefined) child.stdin?.end(input);
      });
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await kubectl(['apply', '--server-side', '-f', join(root, 'crds/authpolicy.yaml')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/authpolicies.lanyard.dev']);
    const system = 'lanyard-system';
    await core.createNamespace({ body: { metadata: { name: system } } });

    plane = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), CHILD, cluster.kubeconfigPath, system],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const info = await new Promise<Plane>((resolve, reject) => {
      plane!.once('exit', (code) => reject(new Error(`the control plane exited (${code})`)));
      createInterface({ input: plane!.stdout! }).once('line', (line) => resolve(JSON.parse(line) as Plane));
    });
    const pid = plane.pid!;
    const ca = await openMeshCa(kc, system);

    console.log(
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
        'API server, etcd, control plane and clients all on it',
    );
    const rows: string[] = [];
    for (const n of clientCounts) {
      const namespace = `bench-${n}`;
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'client' } } });
      await kubectl(['apply', '-f', '-'], policy(namespace, 'initial'));
      const podsStart = performance.now();
      await inBatches(n, CREATE_CONCURRENCY, (i) =>
        createPod(core, {
          namespace,
          name: `client-${i}`,
          serviceAccount: 'client',
          labels: { app: 'bench' },
        }),
      );
      const podsMs = performance.now() - podsStart;

      const spiffeId = `spiffe://cluster.local/ns/${namespace}/sa/client`;
      let marker = 'initial';
      let roundStart = 0;
      let pending = n;
      const latencies: number[] = [];
      const seen = new Array<string>(n).fill('');
      const errors = new Map<string, number>();
      const clients = Array.from({ length: n }, (_, i) =>
        startLightClient({
          plane: info,
          podName: `client-${i}`,
          svid: ca.issue(spiffeId),
          onSnapshot: (name) => {
            if (name !== marker || seen[i] === marker) return;
            seen[i] = marker;
            pending -= 1;
            if (roundStart > 0) latencies.push(performance.now() - roundStart);
          },
          onError: (reason) => errors.set(reason, (errors.get(reason) ?? 0) + 1),
        }),
      );
      const waitAll = async (what: string) => {
        const deadline = Date.now() + ROUND_TIMEOUT_MS;
        while (pending > 0) {
          if (Date.now() > deadline)
            throw new Error(
              `${n} clients: ${pending} never received ${what}; stream errors: ${JSON.stringify([...errors])}`,
            );
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      const connectStart = performance.now();
      await waitAll('the initial snapshot');
      const connectMs = performance.now() - connectStart;

      // kubectl fetches the OpenAPI schema on its first update of a kind: warm it, untimed, as
      // an operator's kubectl is.
      marker = 'warm-up';
      pending = n;
      await kubectl(['apply', '-f', '-'], policy(namespace, marker));
      await waitAll(marker);
      const rounds: string[] = [];
      /** Delivery time after kubectl exited: the control plane's share (kubectl's own start-up excluded). */
      const afterKubectl: number[] = [];
      const before = usage(pid);
      const runStart = performance.now();
      let peakRss = before.rss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, usage(pid).rss)), 100);
      for (let round = 1; round <= ROUNDS; round += 1) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        marker = `round-${round}`;
        pending = n;
        roundStart = performance.now();
        const first = latencies.length;
        await kubectl(['apply', '-f', '-'], policy(namespace, marker));
        const kubectlMs = performance.now() - roundStart;
        await waitAll(marker);
        const round_ = latencies.slice(first).sort((a, b) => a - b);
        afterKubectl.push(...round_.map((ms) => ms - kubectlMs));
        rounds.push(
          `kubectl ${kubectlMs.toFixed(0)} ms, first ${round_[0]!.toFixed(0)} ms, last ${round_.at(-1)!.toFixed(0)} ms`,
        );
      }
      clearInterval(sampler);
      const after = usage(pid);
      const wallMs = performance.now() - runStart;
      for (const stop of clients) stop();
      if (errors.size > 0) console.log(`  stream errors (each retried): ${JSON.stringify([...errors])}`);

      latencies.sort((a, b) => a - b);
      afterKubectl.sort((a, b) => a - b);
      const [p50, p90, p99, max] = [50, 90, 99, 100].map((p) => percentile(latencies, p).toFixed(0));
      const [cp50, cp99] = [50, 99].map((p) => percentile(afterKubectl, p).toFixed(0));
      const cpu = ((after.cpuMs - before.cpuMs) / wallMs) * 100;
      const line =
        `${n} clients (${latencies.length} deliveries, ${ROUNDS} changes): p50 ${p50} ms, p90 ${p90} ms, p99 ${p99} ms, max ${max} ms ` +
        `(after kubectl exited: p50 ${cp50} ms, p99 ${cp99} ms); ` +
        `controller CPU ${cpu.toFixed(0)}% of a core, RSS ${(before.rss / 2 ** 20).toFixed(0)} MB before, ${(peakRss / 2 ** 20).toFixed(0)} MB peak ` +
        `(${n} pods created in ${(podsMs / 1000).toFixed(1)} s, clients connected in ${(connectMs / 1000).toFixed(1)} s)`;
      console.log(line);
      if (process.env.BENCH_VERBOSE) for (const round of rounds) console.log(`  change: ${round}`);
      rows.push(
        `| ${n} | ${p50} | ${p90} | ${p99} | ${max} | ${cp50} / ${cp99} | ${cpu.toFixed(0)}% | ${(peakRss / 2 ** 20).toFixed(0)} MB |`,
      );
      results.push({
        clients: n,
        deliveries: latencies.length,
        latencyMs: Object.fromEntries([50, 90, 99, 100].map((p) => [`p${p}`, percentile(latencies, p)])),
        // kubectl's own start-up is the comparator to take out: the control plane's share.
        afterKubectlMs: { p50: percentile(afterKubectl, 50), p99: percentile(afterKubectl, 99) },
        controllerCpuPercent: cpu,
        controllerPeakRssBytes: peakRss,
        streamErrors: Object.fromEntries(errors),
      });
      // Let the streams close before the next size connects.
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    console.log(
      '\n| clients | p50 ms | p90 ms | p99 ms | max ms | after kubectl exited, p50 / p99 ms | controller CPU | controller RSS (peak) |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const row of rows) console.log(row);
    const file = writeResult('apply-to-enforce', {
      benchmark: 'apply-to-enforce',
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: machine(),
      setup: { changes: ROUNDS, clientCounts, smoke: SMOKE },
      results,
    });
    console.log(`bench: wrote ${file}`);
  } finally {
    plane?.kill('SIGTERM');
    await cluster.stop();
  }
}

if (process.argv[2] === CHILD) await runControlPlane(process.argv[3]!, process.argv[4]!);
else await main().then(() => process.exit(0));
