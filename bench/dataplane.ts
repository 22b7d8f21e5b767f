// Data-plane benchmark (not a test): npx tsx bench/dataplane.ts [--seconds N] [--quick] [--smoke]
//   [--paths nginx,node,lanyard] [--profile DIR] [--perf-map]
// One run measures, on the same upstream app with the same load: (a) client → app directly,
// (b) an nginx pair doing mTLS with Lanyard SVIDs, (c) the smallest mTLS proxy pair made of
// Node's own http/https modules (no policy), (d) a Lanyard sidecar pair (real
// `lanyard sidecar` processes, compiled) validating a user JWT and evaluating a 50-rule
// AuthPolicy on every request. Open-loop latency at fixed rates (vegeta), closed-loop
// saturation (wrk), CPU per 1000 requests and RSS per proxy process from /proc.
// Cores: the load generators and this script on core 0; app, proxies on core 1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaClient } from '../ca/client/ca-client.ts';
import { startControlPlane, type LocalWorkload } from '../controller/control-plane.ts';
import { SIDECAR_NODE_FLAGS } from '../controller/inject/injector.ts';
import { createDemoIssuer } from '../dev/issuer.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { freePorts } from '../test/helpers/ports.ts';
import { BENCH_PATH as PATH, BENCH_RULES as RULES, benchPolicy } from './lib/dataplane-policy.ts';
import { builtLanyard } from './lib/lanyard-build.ts';
import { nodeProxySource } from './lib/node-proxy.ts';
import {
  childPids,
  cpuTimes,
  goProgram,
  machine,
  percentile,
  pinSelf,
  requireTool,
  rssBytes,
  rssSampler,
  sleep,
  SMOKE,
  writeResult,
} from './lib/tools.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick') || SMOKE;
const secondsArg = args.indexOf('--seconds');
const SECONDS = secondsArg >= 0 ? Number(args[secondsArg + 1]) : SMOKE ? 1 : quick ? 2 : 15;
const RATES = quick ? [500] : [500, 1000, 2000];
// --profile DIR: the sidecars write V8 CPU profiles there (bench/profile.ts summarizes them).
const profileArg = args.indexOf('--profile');
const PROFILE_DIR = profileArg >= 0 ? args[profileArg + 1] : undefined;
// --perf-map: the sidecars write /tmp/perf-<pid>.map, so that `perf record -g -p <pid>` names
// their JavaScript frames. perf samples CPU time, where V8's profiles sample wall clock.
const PERF_MAP = args.includes('--perf-map');
// --paths: the comparators to measure (direct is always measured: added latency is over it).
const PATH_NAMES = ['nginx', 'node', 'lanyard'] as const;
const pathsArg = args.indexOf('--paths');
const SELECTED = new Set<string>(
  pathsArg >= 0 ? ['direct', ...args[pathsArg + 1]!.split(',')] : ['direct', ...PATH_NAMES],
);
for (const name of SELECTED)
  if (name !== 'direct' && !(PATH_NAMES as readonly string[]).includes(name))
    throw new Error(`--paths: unknown path ${name} (known: ${PATH_NAMES.join(', ')})`);
const CONNECTIONS = 16;
const LOAD_CORE = '0';
const SERVER_CORE = '1';

const nginx = requireTool('nginx', 'apt-get install nginx-light (or nginx)');
const wrk = requireTool('wrk', 'apt-get install wrk');
requireTool('taskset', 'apt-get install util-linux');
const vegeta = goProgram({
  name: 'vegeta',
  version: 'v12.13.0',
  pkg: 'github.com/tsenart/vegeta/v12',
  binary: 'vegeta',
}).binary;
const lanyardBin = await builtLanyard();
pinSelf(Number(LOAD_CORE));

const dir = mkdtempSync(join(tmpdir(), 'lanyard-bench-dataplane-'));
const children: ChildProcess[] = [];
const extraPids: number[] = [];
const cleanup = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const pid of extraPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};
process.on('exit', cleanup);
/** SIGTERM to every process (nginx masters stop their workers; sidecars write profiles), then wait. */
async function stopAll(): Promise<void> {
  await Promise.all(
    children
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map(
        (child) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 10_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
  );
}

/** A process on one core; its output goes to a file (as a container runtime keeps it). */
function pinned(core: string, command: string, commandArgs: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const logFile = join(dir, `process-${children.length}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn('taskset', ['-c', core, command, ...commandArgs], {
    env: env ?? process.env,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.once('exit', (code, signal) => {
    if (stopping) return;
    const tail = readFileSync(logFile, 'utf8').slice(-4000);
    console.error(`bench: ${command} ${commandArgs[0] ?? ''} exited (${code ?? signal}):\n${tail}`);
  });
  children.push(child);
  return child;
}
let stopping = false;

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// --- The upstream app: plain Node HTTP, a fixed 1 KB body, keep-alive. -----------------------
const [
  appPort,
  nginxClientPort,
  nginxServerPort,
  sidecarIn,
  sidecarOut,
  clientAdmin,
  serverAdmin,
  clientIn,
  serverOut,
  nodeClientPort,
  nodeServerPort,
] = await freePorts(11);
const APP = `
import { createServer } from 'node:http';
const body = Buffer.alloc(1024, 'x');
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(${appPort}, '127.0.0.1');
`;
pinned(SERVER_CORE, process.execPath, ['--input-type=module', '-e', APP]);
await until('the app', async () => (await httpStatus(appPort!, '/')) === 200);

// --- The control plane (local mode) and the policy: 50 rules, roles, an unhit rate limit. ------
const issuer = await createDemoIssuer();
const workload = (name: string): LocalWorkload => ({
  name,
  namespace: 'bench',
  serviceAccount: name,
  labels: { app: name },
});
const policiesDir = join(dir, 'policies');
mkdirSync(policiesDir);
mkdirSync(join(dir, 'state'));
const policy = benchPolicy(issuer.jwksJson);
writeFileSync(join(policiesDir, 'server.yaml'), JSON.stringify(policy));
const controlPlane = await startControlPlane({
  source: {
    kind: 'folder',
    dir: policiesDir,
    workloads: [workload('client'), workload('server')],
    stateDir: join(dir, 'state'),
  },
  host: '127.0.0.1',
  port: 0,
  log: silentLogger,
});
if (controlPlane.policyMessages().length > 0) throw new Error(controlPlane.policyMessages().join('\n'));
const rootsFile = join(dir, 'roots.pem');
writeFileSync(rootsFile, controlPlane.rootsPem());
const serverId = 'spiffe://cluster.local/ns/bench/sa/server';
const tokens = await Promise.all(
  Array.from({ length: 16 }, (_, i) =>
    issuer.token({ sub: `user-${i}`, roles: ['reader'], amr: ['pwd'] }, 3600),
  ),
);

// --- The Lanyard pair: two compiled `lanyard sidecar` processes on the server core. ------------
const routesFile = join(dir, 'routes.json');
writeFileSync(
  routesFile,
  JSON.stringify({ 'server.bench:80': { address: '127.0.0.1', port: sidecarIn, spiffeId: serverId } }),
);
function sidecar(name: string, ports: { inbound: number; outbound: number; admin: number }, extra = {}) {
  const profile = PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}.cpuprofile`]
    : [];
  if (PERF_MAP) profile.push('--perf-basic-prof');
  // The injected sidecar container's command line (its node flags, bin/lanyard.js of the
  // image's layout, which runs the sidecar's bundle), so that memory is measured as it runs.
  return pinned(SERVER_CORE, process.execPath, [...SIDECAR_NODE_FLAGS, ...profile, lanyardBin, 'sidecar'], {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    LANYARD_CONTROL_PLANE: controlPlane.address,
    LANYARD_CONTROL_PLANE_ID: controlPlane.spiffeId,
    LANYARD_ROOTS_FILE: rootsFile,
    LANYARD_POD_NAME: name,
    LANYARD_JOIN_TOKEN: controlPlane.joinToken(name),
    LANYARD_INBOUND_PORT: String(ports.inbound),
    LANYARD_OUTBOUND_PORT: String(ports.outbound),
    LANYARD_ADMIN_PORT: String(ports.admin),
    LANYARD_BIND_ADDRESS: '127.0.0.1',
    ...extra,
  });
}
const serverSidecar = sidecar(
  'server',
  { inbound: sidecarIn!, outbound: serverOut!, admin: serverAdmin! },
  { LANYARD_APP_PORT: String(appPort) },
);
const clientSidecar = sidecar(
  'client',
  { inbound: clientIn!, outbound: sidecarOut!, admin: clientAdmin! },
  { LANYARD_ROUTES_FILE: routesFile },
);
await until('the server sidecar', async () => (await httpStatus(serverAdmin!, '/ready')) === 200);
await until('the client sidecar', async () => (await httpStatus(clientAdmin!, '/ready')) === 200);

// --- The nginx pair, with SVIDs for the same identities from the same CA. ----------------------
async function svid(name: string): Promise<{ cert: string; key: string }> {
  const client = new CaClient({
    address: controlPlane.address,
    caSpiffeId: controlPlane.spiffeId,
    bootstrapRootsPem: controlPlane.rootsPem(),
    credential: () => Promise.resolve({ kind: 'join-token', token: controlPlane.joinToken(name) }),
    clock: systemClock,
    logger: silentLogger,
  });
  const issued = await client.start();
  client.stop();
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, issued.certChainPem);
  writeFileSync(key, issued.privateKeyPem, { mode: 0o600 });
  return { cert, key };
}
const nginxClientSvid = await svid('client');
const nginxServerSvid = await svid('server');
function nginxConfig(name: string, server: string): string {
  const prefix = join(dir, name);
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  mkdirSync(join(prefix, 'tmp'));
  const file = join(prefix, 'nginx.conf');
  writeFileSync(
    file,
    `worker_processes 1;
error_log ${prefix}/logs/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp; proxy_temp_path ${prefix}/tmp;
  fastcgi_temp_path ${prefix}/tmp; uwsgi_temp_path ${prefix}/tmp; scgi_temp_path ${prefix}/tmp;
  keepalive_requests 1000000;
  ${server}
}
`,
  );
  return file;
}
const nginxServerConf = nginxConfig(
  'nginx-server',
  `upstream app { server 127.0.0.1:${appPort}; keepalive 32; }
  server {
    listen 127.0.0.1:${nginxServerPort} ssl;
    ssl_certificate ${nginxServerSvid.cert};
    ssl_certificate_key ${nginxServerSvid.key};
    ssl_client_certificate ${rootsFile};
    ssl_verify_client on;
    ssl_protocols TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
);
const nginxClientConf = nginxConfig(
  'nginx-client',
  `upstream mesh { server 127.0.0.1:${nginxServerPort}; keepalive 32; }
  server {
    listen 127.0.0.1:${nginxClientPort};
    location / {
      proxy_pass https://mesh;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate ${nginxClientSvid.cert};
      proxy_ssl_certificate_key ${nginxClientSvid.key};
      proxy_ssl_trusted_certificate ${rootsFile};
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_session_reuse on;
      # nginx checks a peer by DNS name only; an SVID has a URI SAN, so the server's identity
      # is not checked here (the Lanyard client sidecar checks the SPIFFE ID).
      proxy_ssl_verify off;
    }
  }`,
);
const nginxServer = pinned(SERVER_CORE, nginx, ['-c', nginxServerConf, '-g', 'daemon off;']);
const nginxClient = pinned(SERVER_CORE, nginx, ['-c', nginxClientConf, '-g', 'daemon off;']);
await until('nginx', async () => (await httpStatus(nginxClientPort!, PATH)) === 200);
const nginxWorkers = () => [...childPids(nginxClient.pid!), ...childPids(nginxServer.pid!)];
if (nginxWorkers().length !== 2) throw new Error(`expected 2 nginx workers, found ${nginxWorkers().length}`);
extraPids.push(...nginxWorkers());

// --- The Node.js http pair: the same SVIDs, Node's own http/https modules, no policy. ----------
const nodeServer = pinned(SERVER_CORE, process.execPath, [
  '--input-type=module',
  '-e',
  nodeProxySource({
    role: 'server',
    port: nodeServerPort!,
    upstreamPort: appPort!,
    certFile: nginxServerSvid.cert,
    keyFile: nginxServerSvid.key,
    rootsFile,
  }),
]);
const nodeClient = pinned(SERVER_CORE, process.execPath, [
  '--input-type=module',
  '-e',
  nodeProxySource({
    role: 'client',
    port: nodeClientPort!,
    upstreamPort: nodeServerPort!,
    certFile: nginxClientSvid.cert,
    keyFile: nginxClientSvid.key,
    rootsFile,
  }),
]);
await until('the Node.js http pair', async () => (await httpStatus(nodeClientPort!, PATH)) === 200);

// --- The three paths, and the processes each one costs. --------------------------------------
interface Path {
  name: 'direct' | (typeof PATH_NAMES)[number];
  port: number;
  host: string;
  proxies: () => { role: string; pid: number }[];
}
const paths: Path[] = [
  { name: 'direct', port: appPort!, host: 'server.bench', proxies: () => [] },
  {
    name: 'nginx',
    port: nginxClientPort!,
    host: 'server.bench',
    proxies: () => {
      const [client, server] = nginxWorkers();
      return [
        { role: 'client', pid: client! },
        { role: 'server', pid: server! },
      ];
    },
  },
  {
    name: 'node',
    port: nodeClientPort!,
    host: 'server.bench',
    proxies: () => [
      { role: 'client', pid: nodeClient.pid! },
      { role: 'server', pid: nodeServer.pid! },
    ],
  },
  {
    name: 'lanyard',
    port: sidecarOut!,
    host: 'server.bench',
    proxies: () => [
      { role: 'client', pid: clientSidecar.pid! },
      { role: 'server', pid: serverSidecar.pid! },
    ],
  },
].filter((path) => SELECTED.has(path.name)) as Path[];
for (const path of paths) {
  const status = await new Promise<number>((resolve) => {
    const req = get(
      {
        host: '127.0.0.1',
        port: path.port,
        path: PATH,
        headers: { host: path.host, authorization: `Bearer ${tokens[0]}` },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
  });
  if (status !== 200) throw new Error(`${path.name}: GET ${PATH} answered ${status}, not 200`);
}
// A request the policy must refuse, so that the Lanyard path is known to enforce.
const refused = await new Promise<number>((resolve) => {
  get({ host: '127.0.0.1', port: sidecarOut, path: PATH, headers: { host: 'server.bench' } }, (res) => {
    res.resume();
    resolve(res.statusCode ?? 0);
  }).on('error', () => resolve(0));
});
if (refused !== 401 && refused !== 403) throw new Error(`lanyard: a request without a token got ${refused}`);

const idleRss = Object.fromEntries(
  paths.map((path) => [path.name, path.proxies().map((p) => ({ role: p.role, rssBytes: rssBytes(p.pid) }))]),
);

interface ProxyCost {
  role: string;
  cpuSeconds: number;
  cpuSecondsPer1000: number;
  /** The share of cpuSeconds spent in the kernel (system calls: socket reads and writes). */
  systemShare: number;
  peakRssBytes: number;
}

/** The client sidecar's outbound requests so far, by whether they opened a new mTLS connection. */
async function outboundConnectionCounts(): Promise<{ new: number; reused: number }> {
  const text = await new Promise<string>((resolve) => {
    get({ host: '127.0.0.1', port: clientAdmin, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    }).on('error', () => resolve(''));
  });
  const counts = { new: 0, reused: 0 };
  for (const match of text.matchAll(
    /^lanyard_sidecar_outbound_requests_total\{[^}]*connection="(new|reused)"[^}]*\} (\d+)/gm,
  ))
    counts[match[1] as 'new' | 'reused'] += Number(match[2]);
  return counts;
}

function measure<T>(path: Path, requestsOf: (result: T) => number, run: () => Promise<T>) {
  return async () => {
    const proxies = path.proxies();
    const cpuBefore = proxies.map((p) => cpuTimes(p.pid));
    const connectionsBefore = path.name === 'lanyard' ? await outboundConnectionCounts() : undefined;
    const sampler = rssSampler(proxies.map((p) => p.pid));
    const result = await run();
    const peaks = sampler.stop();
    const connectionsAfter = connectionsBefore && (await outboundConnectionCounts());
    // mTLS connections the client sidecar opened to the server sidecar during the run: with
    // connection reuse, at most one per load-generator connection, not one per request.
    const newConnections = connectionsAfter && connectionsAfter.new - connectionsBefore.new;
    const requests = requestsOf(result);
    const costs: ProxyCost[] = proxies.map((p, i) => {
      const after = cpuTimes(p.pid);
      const system = after.system - cpuBefore[i]!.system;
      const used = after.user - cpuBefore[i]!.user + system;
      return {
        role: p.role,
        cpuSeconds: used,
        cpuSecondsPer1000: (used / requests) * 1000,
        systemShare: used > 0 ? system / used : 0,
        peakRssBytes: peaks[i]!,
      };
    });
    return { result, costs, ...(newConnections !== undefined && { newConnections }) };
  };
}

function runProcess(command: string, commandArgs: string[], input?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', LOAD_CORE, command, ...commandArgs], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${command} exited ${code}: ${err}`)),
    );
    child.stdin.end(input ?? '');
  });
}

interface OpenLoop {
  rate: number;
  requests: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
}

/** vegeta at a fixed rate, 16 keep-alive connections; latencies from its per-request CSV. */
async function openLoop(path: Path, rate: number, seconds: number): Promise<OpenLoop> {
  const targets = tokens
    .map(
      (token) =>
        `GET http://127.0.0.1:${path.port}${PATH}\nHost: ${path.host}\nAuthorization: Bearer ${token}\n`,
    )
    .join('\n');
  const targetsFile = join(dir, `targets-${path.name}.txt`);
  writeFileSync(targetsFile, targets);
  const resultsFile = join(dir, `vegeta-${path.name}-${rate}.bin`);
  await runProcess(vegeta, [
    'attack',
    `-targets=${targetsFile}`,
    `-rate=${rate}/s`,
    `-duration=${seconds}s`,
    `-connections=${CONNECTIONS}`,
    `-max-connections=${CONNECTIONS}`,
    '-workers=16',
    '-max-workers=256',
    '-keepalive=true',
    '-timeout=10s',
    `-output=${resultsFile}`,
  ]);
  const csv = (await runProcess(vegeta, ['encode', '--to=csv', resultsFile])).toString();
  const latencies: number[] = [];
  let errors = 0;
  for (const line of csv.split('\n')) {
    if (!line) continue;
    const [, code, latencyNs] = line.split(',');
    if (code !== '200') errors += 1;
    latencies.push(Number(latencyNs) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  rmSync(resultsFile, { force: true });
  return {
    rate,
    requests: latencies.length,
    errors,
    latencyMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      p999: percentile(latencies, 99.9),
      max: latencies[latencies.length - 1] ?? Number.NaN,
    },
  };
}

interface ClosedLoop {
  requestsPerSecond: number;
  requests: number;
  non2xx: number;
  latencyMs: { p50: number; p90: number; p99: number };
}

function wrkMs(text: string, label: string): number {
  const match = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/** wrk: one thread, 16 keep-alive connections, as fast as the path answers. */
async function closedLoop(path: Path, seconds: number): Promise<ClosedLoop> {
  const text = (
    await runProcess(wrk, [
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--latency',
      '-H',
      `Host: ${path.host}`,
      '-H',
      `Authorization: Bearer ${tokens[0]}`,
      `http://127.0.0.1:${path.port}${PATH}`,
    ])
  ).toString();
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0),
    requests,
    non2xx,
    latencyMs: { p50: wrkMs(text, '50'), p90: wrkMs(text, '90'), p99: wrkMs(text, '99') },
  };
}

// --- The run: warm-up, then each rate for each path in turn, then saturation. ----------------
const startedAt = new Date().toISOString();
// Each step is measured right after an unmeasured warm-up of the same path at the same load:
// a Node.js process idle for some seconds (the other paths' steps) answers the first seconds
// of a burst slowly (docs/performance.md), and the steps measure the steady state.
const WARM_UP_SECONDS = quick ? 1 : 3;

const open: Record<string, { load: OpenLoop; costs: ProxyCost[]; newConnections?: number }[]> =
  Object.fromEntries(paths.map((path) => [path.name, []]));
for (const rate of RATES) {
  for (const path of paths) {
    console.error(`bench: ${path.name} at ${rate} rps for ${SECONDS} s`);
    await openLoop(path, rate, WARM_UP_SECONDS);
    const { result, ...costs } = await measure(
      path,
      (r: OpenLoop) => r.requests,
      () => openLoop(path, rate, SECONDS),
    )();
    open[path.name]!.push({ load: result, ...costs });
  }
}
// Saturation runs in interleaved rounds, and each path's median round (by requests/s) is kept:
// on a shared virtual machine one round of the same build measured anywhere from 1,070 to
// 2,120 requests/s, and slow spells hit every path of a round alike.
const CLOSED_ROUNDS = quick ? 1 : 3;
type ClosedEntry = { load: ClosedLoop; costs: ProxyCost[]; newConnections?: number };
const closedRounds: Record<string, ClosedEntry[]> = Object.fromEntries(paths.map((path) => [path.name, []]));
for (let round = 1; round <= CLOSED_ROUNDS; round++) {
  for (const path of paths) {
    console.error(`bench: ${path.name} closed loop for ${SECONDS} s (round ${round} of ${CLOSED_ROUNDS})`);
    await closedLoop(path, WARM_UP_SECONDS);
    const { result, ...costs } = await measure(
      path,
      (r: ClosedLoop) => r.requests,
      () => closedLoop(path, SECONDS),
    )();
    closedRounds[path.name]!.push({ load: result, ...costs });
  }
}
const closed: Record<string, ClosedEntry & { roundsRequestsPerSecond: number[] }> = Object.fromEntries(
  paths.map((path) => {
    const rounds = closedRounds[path.name]!;
    const byRate = [...rounds].sort((a, b) => a.load.requestsPerSecond - b.load.requestsPerSecond);
    const median = byRate[Math.floor(byRate.length / 2)]!;
    return [path.name, { ...median, roundsRequestsPerSecond: rounds.map((r) => r.load.requestsPerSecond) }];
  }),
);

// After idle: each path is used (1 s, unmeasured), rests IDLE_SECONDS, then takes the first
// seconds of a burst (measured), to show what a pod idle between bursts sees: pooled
// connections closed while idle, and V8's work after an idle period (docs/sidecar.md#memory).
// The use first makes the rest exactly IDLE_SECONDS for each path, not longer for the last.
const IDLE_SECONDS = SMOKE ? 1 : 20;
const COLD_RATE = 500;
const afterIdle: Record<string, { load: OpenLoop; costs: ProxyCost[]; newConnections?: number }> = {};
for (const path of paths) {
  console.error(`bench: ${path.name} at ${COLD_RATE} rps for 2 s after ${IDLE_SECONDS} s idle`);
  await openLoop(path, COLD_RATE, 1);
  await sleep(IDLE_SECONDS * 1000);
  const { result, ...costs } = await measure(
    path,
    (r: OpenLoop) => r.requests,
    () => openLoop(path, COLD_RATE, 2),
  )();
  afterIdle[path.name] = { load: result, ...costs };
}

export type DataplaneResult = typeof result;
const result = {
  benchmark: 'dataplane',
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: machine(),
  setup: {
    seconds: SECONDS,
    smoke: SMOKE,
    rates: RATES,
    connections: CONNECTIONS,
    bodyBytes: 1024,
    rules: RULES,
    path: PATH,
    app: 'Node.js http server, fixed 1 KB body (one process)',
    openLoopGenerator: 'vegeta v12.13.0 (attack -rate, 16 connections, keep-alive)',
    closedLoopGenerator: 'wrk 4.1.0 (-t1 -c16, keep-alive)',
    cores: {
      [LOAD_CORE]: 'load generators (vegeta, wrk), this script, the control plane (idle during load)',
      [SERVER_CORE]: 'app, nginx client + server workers, Lanyard client + server sidecars',
    },
    lanyard: `sidecar processes run as injected (bin/lanyard.js, the single-file bundle; node ${process.version}), ${RULES}-rule AuthPolicy, ES256 user JWT`,
    nginx: `${spawnSync(nginx, ['-v'], { encoding: 'utf8' }).stderr.trim()}, worker_processes 1 each, TLS 1.3, upstream keepalive`,
    node: `node:http in, node:https out with a keep-alive Agent (client side); node:https with requestCert in, node:http keep-alive Agent out (server side); no policy, no logging (node ${process.version})`,
  },
  idleRss,
  open,
  closed,
  afterIdle: { idleSeconds: IDLE_SECONDS, rate: COLD_RATE, seconds: 2, paths: afterIdle },
};
const file = writeResult('dataplane', result);
console.log(`bench: wrote ${file}`);
for (const rate of RATES) {
  const at = (name: string) => open[name]!.find((entry) => entry.load.rate === rate)!.load;
  for (const name of paths.map((path) => path.name).filter((name) => name !== 'direct')) {
    const added = (k: keyof OpenLoop['latencyMs']) =>
      (at(name).latencyMs[k] - at('direct').latencyMs[k]).toFixed(3);
    console.log(
      `${rate} rps ${name.padEnd(8)} added p50 ${added('p50')} p90 ${added('p90')} p99 ${added('p99')} p99.9 ${added('p999')} ms; errors ${at(name).errors}`,
    );
  }
}
for (const path of paths) {
  const entry = closed[path.name]!;
  console.log(
    `closed loop ${path.name.padEnd(8)} ${entry.load.requestsPerSecond.toFixed(0)} rps ` +
      `(rounds ${entry.roundsRequestsPerSecond.map((r) => r.toFixed(0)).join(', ')}); ` +
      entry.costs
        .map(
          (c) =>
            `${c.role} ${c.cpuSecondsPer1000.toFixed(3)} cpu-s/1000 (${Math.round(c.systemShare * 100)}% kernel)`,
        )
        .join(', ') +
      (entry.newConnections === undefined ? '' : `; ${entry.newConnections} new mTLS connections`),
  );
}

for (const path of paths) {
  const { load, costs, newConnections } = afterIdle[path.name]!;
  console.log(
    `after ${IDLE_SECONDS} s idle ${path.name.padEnd(8)} p50 ${load.latencyMs.p50.toFixed(3)} p99 ${load.latencyMs.p99.toFixed(3)} max ${load.latencyMs.max.toFixed(3)} ms; ` +
      costs.map((c) => `${c.role} ${c.cpuSecondsPer1000.toFixed(3)} cpu-s/1000`).join(', ') +
      (newConnections === undefined ? '' : `; ${newConnections} new mTLS connections`),
  );
}

stopping = true;
await stopAll();
await controlPlane.close();
cleanup();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
