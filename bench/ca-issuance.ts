// CA issuance benchmark (not a test): npx tsx bench/ca-issuance.ts [seconds-per-round] [--smoke]
// Prints in-process X.509-SVID issuance per second on one core next to the raw rate of the
// crypto it needs (ECDSA verify of the CSR, sign of the leaf, verify of the leaf), their ratio,
// the same two rates per second of the process's CPU time (steadier than wall time on a machine
// that other work shares), JWT-SVIDs per second, gRPC issuance latency at 100 concurrent
// callers, and RSS.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { CallerAuthenticator } from '../ca/caller-auth.ts';
import { startCaServer } from '../ca/grpc-server.ts';
import { JoinTokens } from '../ca/join-tokens.ts';
import { systemClock } from '../lib/clock.ts';
import { openBenchCa } from './lib/bench-ca.ts';
import { createKeyAndCsr } from '../lib/csr.ts';
import { loadCaProto } from '../proto/load.ts';
import { machine, SMOKE, writeResult } from './lib/tools.ts';

const secondsArg = process.argv.slice(2).find((arg) => !arg.startsWith('--'));
const seconds = SMOKE ? 0.2 : Number(secondsArg ?? 2);
const ROUNDS = SMOKE ? 1 : 3;
const startedAt = new Date().toISOString();
const identity = { trustDomain: 'cluster.local', namespace: 'bench', serviceAccount: 'web' };

/** Runs `work` for `seconds`; operations per second of wall time and of the process's CPU time. */
function rate(work: (i: number) => void): { wall: number; cpu: number } {
  const end = performance.now() + seconds * 1000;
  const cpuStart = process.cpuUsage();
  let count = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) work(count + i);
    count += 50;
  }
  const cpu = process.cpuUsage(cpuStart);
  return { wall: count / seconds, cpu: count / ((cpu.user + cpu.system) / 1e6) };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

const dir = mkdtempSync(join(tmpdir(), 'lanyard-bench-'));
try {
  const { keyring, ca } = await openBenchCa(dir);

  // Distinct keys, as real workloads have: no cache can help.
  const csrs = await Promise.all(
    Array.from({ length: 256 }, () => createKeyAndCsr().then((pair) => pair.csr)),
  );

  // The raw crypto of one issuance, on inputs of the same sizes.
  const workload = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csrInfo = Buffer.alloc(csrs[0]!.length - 75, 1);
  const csrSignature = sign('sha256', csrInfo, workload.privateKey);
  const tbs = Buffer.alloc(ca.issueX509Svid({ csr: csrs[0]!, identity }).chain[0]!.length - 75, 2);
  const signer = keyring.signer;

  const issuance: { wall: number; cpu: number }[] = [];
  const raw: { wall: number; cpu: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, so that noise from other processes hits both alike.
    issuance.push(rate((i) => ca.issueX509Svid({ csr: csrs[i % csrs.length]!, identity })));
    raw.push(
      rate(() => {
        verify('sha256', csrInfo, workload.publicKey, csrSignature);
        const signature = sign('sha256', tbs, signer.key);
        verify('sha256', tbs, signer.publicKey, signature);
      }),
    );
  }
  const jwt = rate(() => ca.mintJwtSvid({ identity, audience: ['bench'] })).wall;

  // gRPC: 100 concurrent callers, each with its own identity (the rate limit is per caller).
  const joinTokens = new JoinTokens(systemClock);
  const server = await startCaServer({
    ca,
    auth: new CallerAuthenticator({ trustDomain: 'cluster.local', clock: systemClock, keyring, joinTokens }),
    trustDomain: 'cluster.local',
    serverIdentity: { trustDomain: 'cluster.local', namespace: 'lanyard-system', serviceAccount: 'lanyard' },
    clock: systemClock,
    host: '127.0.0.1',
    port: 0,
    // Every bench caller shares one address; the per-address bound on credential checks is
    // for hostile floods, not for this load.
    attestationsPerSecond: 1_000_000,
  });
  const Service = loadCaProto().CertificateService;
  const client = new Service(
    `127.0.0.1:${server.port}`,
    credentials.createSsl(Buffer.from(ca.bundle().rootPems.join('')), null, null, {
      checkServerIdentity: () => undefined,
    }),
  );
  const latencies: number[] = [];
  const callers = SMOKE ? 5 : 100;
  const perCaller = SMOKE ? 2 : Math.max(5, Math.round(seconds * 10));
  let peakRss = process.memoryUsage().rss;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      const callerIdentity = { ...identity, serviceAccount: `caller-${caller}` };
      for (let i = 0; i < perCaller; i++) {
        const metadata = new Metadata();
        metadata.set('lanyard-join-token', joinTokens.create(callerIdentity));
        const t0 = performance.now();
        await new Promise<void>((resolve, reject) =>
          client.IssueX509SVID({ csr: csrs[(caller + i) % csrs.length]! }, metadata, (error) =>
            error ? reject(error) : resolve(),
          ),
        );
        latencies.push(performance.now() - t0);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }
    }),
  );
  const grpcRate = latencies.length / ((performance.now() - started) / 1000);
  client.close();
  await server.close();

  const issuanceRate = median(issuance.map((r) => r.wall));
  const rawRate = median(raw.map((r) => r.wall));
  const issuanceCpu = median(issuance.map((r) => r.cpu));
  const rawCpu = median(raw.map((r) => r.cpu));
  const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;
  console.log(`X.509-SVID issuance, in-process, one core: ${Math.round(issuanceRate)}/s`);
  console.log(`raw crypto (ECDSA verify + sign + verify):  ${Math.round(rawRate)}/s`);
  console.log(`ratio issuance / raw crypto:                ${(issuanceRate / rawRate).toFixed(2)}`);
  console.log(
    `per CPU second: issuance ${Math.round(issuanceCpu)}/s, raw crypto ${Math.round(rawCpu)}/s, ` +
      `ratio ${(issuanceCpu / rawCpu).toFixed(2)}`,
  );
  console.log(`JWT-SVIDs minted, in-process:               ${Math.round(jwt)}/s`);
  console.log(
    `gRPC issuance, ${callers} concurrent callers: ${Math.round(grpcRate)}/s, ` +
      `p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms`,
  );
  console.log(`RSS: ${mb(process.memoryUsage().rss)} now, ${mb(peakRss)} peak during the gRPC run`);
  console.log(
    `(medians of ${ROUNDS} interleaved rounds of ${seconds} s; node ${process.version}, OpenSSL ${process.versions.openssl})`,
  );
  const file = writeResult('ca-issuance', {
    benchmark: 'ca-issuance',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machine(),
    setup: { secondsPerRound: seconds, rounds: ROUNDS, callers, callsPerCaller: perCaller, smoke: SMOKE },
    // The comparator of in-process issuance is the raw crypto it cannot avoid.
    inProcess: {
      x509PerSecond: issuanceRate,
      rawCryptoPerSecond: rawRate,
      ratio: issuanceRate / rawRate,
      x509PerCpuSecond: issuanceCpu,
      rawCryptoPerCpuSecond: rawCpu,
      ratioPerCpuSecond: issuanceCpu / rawCpu,
      jwtPerSecond: jwt,
    },
    grpc: {
      perSecond: grpcRate,
      latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
      calls: latencies.length,
    },
    rssBytes: { now: process.memoryUsage().rss, peak: peakRss },
  });
  console.log(`bench: wrote ${file}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
