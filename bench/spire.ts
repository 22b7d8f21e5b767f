// Identity issuance, Lanyard's CA against a SPIRE server (not a test):
//   npx tsx bench/spire.ts [--seconds N] [--callers N] [--rounds N] [--quick] [--smoke]
// Builds spire-server from the Go module proxy (once, into ~/.cache/lanyard/bench), runs it with
// its default plugins (sqlite datastore, in-memory keys, join_token node attestor) in a temp
// dir, and runs Lanyard's CA gRPC server as a process too. Both servers are pinned to core 1;
// this script, their one client, to core 0. The same client code (grpc-js) mints X.509-SVIDs
// (from the same CSRs: distinct P-256 keys with the SPIFFE ID as URI SAN) and JWT-SVIDs with
// N concurrent callers, rounds interleaved. What differs per call is recorded in the results.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type Client,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import * as x509 from '@peculiar/x509';
import { loadCaProto } from '../proto/load.ts';
import {
  cpuSeconds,
  mainThreadCpuSeconds,
  goModCache,
  goProgram,
  machine,
  percentile,
  pinSelf,
  sleep,
  SMOKE,
  writeResult,
} from './lib/tools.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick') || SMOKE;
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const SECONDS = option('--seconds', SMOKE ? 1 : quick ? 2 : 10);
const CALLERS = option('--callers', SMOKE ? 4 : quick ? 10 : 100);
const ROUNDS = option('--rounds', quick ? 1 : 3);
const SPIRE_VERSION = 'v1.13.3';
const TRUST_DOMAIN = 'cluster.local';

pinSelf(0);
const spire = goProgram({
  name: 'spire',
  version: SPIRE_VERSION,
  pkg: 'github.com/spiffe/spire/cmd/spire-server',
  binary: 'spire-server',
  viaTool: true,
});
const sdks = readdirSync(join(goModCache(), 'github.com', 'spiffe')).filter((name) =>
  name.startsWith('spire-api-sdk@'),
);
if (sdks.length === 0)
  throw new Error('spire-api-sdk is not in the Go module cache; remove the cached build and rerun');
const sdkProto = join(goModCache(), 'github.com', 'spiffe', sdks.sort().at(-1)!, 'proto');

const dir = mkdtempSync(join(tmpdir(), 'lanyard-bench-spire-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function pinnedChild(command: string, commandArgs: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn('taskset', ['-c', '1', command, ...commandArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  children.push(child);
  return { child, output: () => output };
}

// --- SPIRE server, default plugins, admin API on a unix socket. --------------------------------
const socket = join(dir, 'api.sock');
mkdirSync(join(dir, 'data'));
writeFileSync(
  join(dir, 'server.conf'),
  `server {
  bind_address = "127.0.0.1"
  bind_port = "0"
  socket_path = "${socket}"
  trust_domain = "${TRUST_DOMAIN}"
  data_dir = "${dir}/data"
  log_level = "WARN"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${dir}/data/datastore.sqlite3"
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
}
`,
);
const spireServer = pinnedChild(spire.binary, ['run', '-config', join(dir, 'server.conf')]);
const deadline = Date.now() + 60_000;
while (!existsSync(socket)) {
  if (spireServer.child.exitCode !== null) throw new Error(`spire-server exited:\n${spireServer.output()}`);
  if (Date.now() > deadline)
    throw new Error(`spire-server did not open its socket:\n${spireServer.output()}`);
  await sleep(100);
}
const svidDefinition = loadSync('spire/api/server/svid/v1/svid.proto', {
  includeDirs: [sdkProto],
  keepCase: true,
  longs: Number,
  defaults: true,
});
const svidPackage = loadPackageDefinition(svidDefinition) as unknown as {
  spire: { api: { server: { svid: { v1: { SVID: ServiceClientConstructor } } } } };
};
const spireClient = new svidPackage.spire.api.server.svid.v1.SVID(
  `unix://${socket}`,
  credentials.createInsecure(),
);

// --- Lanyard's CA server, as a process. -------------------------------------------------------
// Join tokens are single-use, and the CA keeps at most 100,000 pending: before each Lanyard
// warm-up or round, every caller is topped up to enough for TOKEN_RATE calls per second over it
// (far above any rate measured here); a caller that has used all of its tokens stops early.
const WARM_UP_SECONDS = SMOKE ? 0 : quick ? 1 : 3;
const TOKEN_RATE = 4000;
const lanyardProcess = spawn(
  'taskset',
  [
    '-c',
    '1',
    process.execPath,
    '--import',
    'tsx',
    fileURLToPath(new URL('./lib/ca-server-process.ts', import.meta.url)),
  ],
  {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_CALLERS: String(CALLERS) },
  },
);
children.push(lanyardProcess);
/** The CA process answers each request on its stdin with one JSON line on its stdout. */
const lanyardLines: string[] = [];
const lineWaiters: ((line: string) => void)[] = [];
let lanyardOutput = '';
lanyardProcess.stdout.on('data', (chunk: Buffer) => {
  lanyardOutput += chunk.toString();
  for (let end = lanyardOutput.indexOf('\n'); end >= 0; end = lanyardOutput.indexOf('\n')) {
    const line = lanyardOutput.slice(0, end);
    lanyardOutput = lanyardOutput.slice(end + 1);
    const waiter = lineWaiters.shift();
    if (waiter) waiter(line);
    else lanyardLines.push(line);
  }
});
const lanyardExited = new Promise<never>((_, reject) =>
  lanyardProcess.once('exit', (code) => reject(new Error(`the Lanyard CA process exited (${code})`))),
);
lanyardExited.catch(() => undefined);
const nextLine = () =>
  Promise.race([
    new Promise<string>((resolve) => {
      const line = lanyardLines.shift();
      if (line === undefined) lineWaiters.push(resolve);
      else resolve(line);
    }),
    lanyardExited,
  ]);
const ready = JSON.parse(await nextLine()) as { port: number; rootsPem: string };
const Service = loadCaProto().CertificateService;
const lanyardClient = new Service(
  `127.0.0.1:${ready.port}`,
  credentials.createSsl(Buffer.from(ready.rootsPem), null, null, { checkServerIdentity: () => undefined }),
);

// --- Inputs: the same CSRs for both (distinct keys; SPIRE needs the SPIFFE ID as URI SAN). ------
x509.cryptoProvider.set(webcrypto);
const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const csrs: Buffer[] = [];
for (let i = 0; i < 256; i++) {
  const keys = await webcrypto.subtle.generateKey(P256, false, ['sign', 'verify']);
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: P256,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: `spiffe://${TRUST_DOMAIN}/ns/bench/sa/caller-${i}` },
      ]),
    ],
  });
  csrs.push(Buffer.from(request.rawData));
}

type Call = (caller: number, i: number) => Promise<void>;
function unary(client: Client, method: string, request: unknown, metadata: Metadata): Promise<void> {
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, (r: unknown, m: Metadata, cb: (e: Error | null) => void) => void>)[
      method
    ]!(request, metadata, (error) => (error ? reject(error) : resolve())),
  );
}
class OutOfTokens extends Error {}
let tokens: string[][] = Array.from({ length: CALLERS }, () => []);
const tokenCursor = new Array<number>(CALLERS).fill(0);
/** Tops every caller up to the tokens it may need for `seconds` of calls (see TOKEN_RATE). */
async function topUpTokens(seconds: number): Promise<void> {
  const need = Math.ceil((TOKEN_RATE * seconds) / CALLERS);
  const counts = tokens.map((own, caller) => Math.max(0, need - (own.length - tokenCursor[caller]!)));
  lanyardProcess.stdin.write(`${JSON.stringify(counts)}\n`);
  const fresh = JSON.parse(await nextLine()) as string[][];
  tokens = tokens.map((own, caller) => [...own.slice(tokenCursor[caller]), ...fresh[caller]!]);
  tokenCursor.fill(0);
}
function lanyardMetadata(caller: number): Metadata {
  const metadata = new Metadata();
  const token = tokens[caller]![tokenCursor[caller]!++];
  if (!token) throw new OutOfTokens();
  metadata.set('lanyard-join-token', token);
  return metadata;
}
const calls: Record<string, Call> = {
  'lanyard x509': (caller, i) =>
    unary(lanyardClient, 'IssueX509SVID', { csr: csrs[(caller + i) % csrs.length] }, lanyardMetadata(caller)),
  'spire x509': (caller, i) =>
    unary(spireClient, 'MintX509SVID', { csr: csrs[(caller + i) % csrs.length] }, new Metadata()),
  'lanyard jwt': (caller) =>
    unary(lanyardClient, 'MintJWTSVID', { audience: ['bench'] }, lanyardMetadata(caller)),
  'spire jwt': (caller) =>
    unary(
      spireClient,
      'MintJWTSVID',
      { id: { trust_domain: TRUST_DOMAIN, path: `/ns/bench/sa/caller-${caller}` }, audience: ['bench'] },
      new Metadata(),
    ),
};

/** Busy and total jiffies of each core so far, from /proc/stat. */
function coreJiffies(): { busy: number; total: number }[] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((line) => /^cpu\d+ /.test(line))
    .map((line) => {
      const ticks = line.split(/\s+/).slice(1).map(Number);
      const total = ticks.reduce((sum, t) => sum + t, 0);
      // idle and iowait
      return { busy: total - ticks[3]! - ticks[4]!, total };
    });
}

interface Figures {
  perSecond: number;
  calls: number;
  errors: number;
  latencyMs: { p50: number; p99: number };
  /** CPU time per completed call: of the server process, and of this client. Steadier than rates on a shared machine. */
  cpuMicrosPerCall: { server: number; client: number };
  /**
   * Busy share of one core during the round: the server process (all threads), its main thread
   * (Lanyard: the event loop; null for SPIRE, whose work is spread over goroutines), this client,
   * and each whole core (all processes on the machine, other work included).
   */
  busy: { server: number; serverMainThread: number | null; client: number; cores: number[] };
}

/** CALLERS concurrent callers, each one call at a time, for `seconds`; `server` is the pid that answers. */
async function drive(call: Call, server: number, seconds = SECONDS): Promise<Figures> {
  const isNode = server === lanyardProcess.pid;
  const coresStart = coreJiffies();
  const mainThreadStart = isNode ? mainThreadCpuSeconds(server) : 0;
  const serverCpuStart = cpuSeconds(server);
  const clientCpuStart = process.cpuUsage();
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = 0; performance.now() < end; i++) {
        const t0 = performance.now();
        try {
          await call(caller, i);
          latencies.push(performance.now() - t0);
        } catch (error) {
          if (error instanceof OutOfTokens) break;
          errors += 1;
          firstError ??= error;
          if (errors > 100) throw error;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const serverCpu = cpuSeconds(server) - serverCpuStart;
  const clientCpu = process.cpuUsage(clientCpuStart);
  const cores = coreJiffies().map((core, i) => {
    const start = coresStart[i]!;
    return (core.busy - start.busy) / Math.max(1, core.total - start.total);
  });
  const mainThread = isNode ? mainThreadCpuSeconds(server) - mainThreadStart : 0;
  if (firstError) console.error(`bench: first error: ${(firstError as Error).message}`);
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / elapsed,
    calls: latencies.length,
    errors,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
    cpuMicrosPerCall: {
      server: (serverCpu * 1e6) / latencies.length,
      client: (clientCpu.user + clientCpu.system) / latencies.length,
    },
    busy: {
      server: serverCpu / elapsed,
      serverMainThread: isNode ? mainThread / elapsed : null,
      client: (clientCpu.user + clientCpu.system) / 1e6 / elapsed,
      cores,
    },
  };
}

// Warm-up under load, unrecorded: Lanyard's server is JIT-compiled, and V8 compiles the hot
// paths during the first seconds on the core that the server shares with nothing else. Then
// interleaved rounds, so that noise from other processes hits both alike.
const serverOf = (name: string) =>
  name.startsWith('lanyard') ? lanyardProcess.pid! : spireServer.child.pid!;
for (const [name, call] of Object.entries(calls)) {
  if (name.startsWith('lanyard')) await topUpTokens(Math.max(1, WARM_UP_SECONDS));
  if (WARM_UP_SECONDS > 0) {
    console.error(`bench: ${name}, warm-up ${WARM_UP_SECONDS} s`);
    await drive(call, serverOf(name), WARM_UP_SECONDS);
  } else {
    await call(0, 0);
  }
}
const rounds: Record<string, Figures[]> = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, call] of Object.entries(calls)) {
    console.error(`bench: ${name}, ${CALLERS} callers, ${SECONDS} s (round ${round + 1}/${ROUNDS})`);
    if (name.startsWith('lanyard')) await topUpTokens(SECONDS);
    rounds[name]!.push(
      await drive(call, name.startsWith('lanyard') ? lanyardProcess.pid! : spireServer.child.pid!),
    );
  }
}
/** The best round by rate: noise from other work only ever slows. */
const best = (figures: Figures[]) => [...figures].sort((a, b) => b.perSecond - a.perSecond)[0]!;
const summary = Object.fromEntries(Object.entries(rounds).map(([name, figures]) => [name, best(figures)]));
const ratio = (kind: 'x509' | 'jwt') => ({
  /** Lanyard's rate over SPIRE's in each pair of back-to-back rounds: the spread of the noise. */
  throughputPerRound: rounds[`lanyard ${kind}`]!.map(
    (figures, i) => figures.perSecond / rounds[`spire ${kind}`]![i]!.perSecond,
  ),
  throughput: summary[`lanyard ${kind}`]!.perSecond / summary[`spire ${kind}`]!.perSecond,
  p99: summary[`lanyard ${kind}`]!.latencyMs.p99 / summary[`spire ${kind}`]!.latencyMs.p99,
  // Below 1: Lanyard's server spends less CPU per SVID than SPIRE's.
  serverCpuPerCall:
    summary[`lanyard ${kind}`]!.cpuMicrosPerCall.server / summary[`spire ${kind}`]!.cpuMicrosPerCall.server,
});

export type SpireResult = typeof result;
const result = {
  benchmark: 'spire',
  startedAt: new Date().toISOString(),
  machine: machine(),
  setup: {
    seconds: SECONDS,
    warmUpSeconds: WARM_UP_SECONDS,
    callers: CALLERS,
    rounds: ROUNDS,
    spire: `spire-server ${SPIRE_VERSION} (go module proxy build), sqlite3 datastore, memory KeyManager, admin API over a unix socket`,
    lanyard: 'ca/grpc-server.ts as its own process (compiled by tsx at start), TLS on loopback TCP',
    cores: {
      '0': 'this script (the one grpc-js client of both servers)',
      '1': 'spire-server, the Lanyard CA process',
    },
    differences: [
      'Lanyard: TLS over TCP; SPIRE: plaintext over a unix socket (its admin API).',
      'Lanyard authenticates every call (a single-use join token per call); SPIRE trusts the local socket.',
      'Lanyard checks the issued leaf against its chain before returning it (one extra ECDSA verify); SPIRE signs and returns.',
      'Lanyard returns the trust bundle with each X.509-SVID; SPIRE returns the SVID chain.',
      'Both verify the CSR signature and sign with an in-memory P-256 key; both sign JWT-SVIDs with ES256.',
    ],
  },
  rounds,
  summary,
  ratios: { x509: ratio('x509'), jwt: ratio('jwt') },
};
const file = writeResult('spire', result);
console.log(`bench: wrote ${file}`);
for (const [name, figures] of Object.entries(summary)) {
  console.log(
    `${name.padEnd(13)} ${figures.perSecond.toFixed(0)}/s p50 ${figures.latencyMs.p50.toFixed(1)} ms p99 ${figures.latencyMs.p99.toFixed(1)} ms errors ${figures.errors}; CPU per call: server ${figures.cpuMicrosPerCall.server.toFixed(0)} µs, client ${figures.cpuMicrosPerCall.client.toFixed(0)} µs; busy: server ${figures.busy.server.toFixed(2)}${figures.busy.serverMainThread === null ? '' : ` (main thread ${figures.busy.serverMainThread.toFixed(2)})`}, client ${figures.busy.client.toFixed(2)}, cores ${figures.busy.cores.map((c) => c.toFixed(2)).join(' ')}`,
  );
}
for (const kind of ['x509', 'jwt'] as const) {
  const r = ratio(kind);
  console.log(
    `${kind}: Lanyard/SPIRE throughput ${r.throughput.toFixed(2)} (per round: ${r.throughputPerRound.map((t) => t.toFixed(2)).join(' ')}), p99 ${r.p99.toFixed(2)}, server CPU per call ${r.serverCpuPerCall.toFixed(2)} (target: throughput ≥ 1)`,
  );
}
lanyardClient.close();
spireClient.close();
process.exit(0);
