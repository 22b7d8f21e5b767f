// Test-only pod runner for transparent interception: runs injected Pods (as the real API server
// stored them) the way a kubelet and a CNI would, with local processes. Each pod gets a network
// namespace on a Linux bridge of its own /24, an /etc/hosts naming the other pods' services,
// the redirect from its own `lanyard-init` arguments, then its sidecar (uid 1337) and its app.
// Everything it creates carries this run's random id and is removed by stop(), also after a
// failed start. Needs root, iproute2, iptables and setpriv (util-linux).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { eventually } from './eventually.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const LANYARD = join(root, 'bin/lanyard.js');
const PROXY_UID = 1337;
/** The app runs as neither root nor the proxy: its traffic is what iptables redirects. */
export const APP_UID = 1000;
const LOG_LIMIT = 1024 * 1024;

export interface PodToRun {
  /** The Pod as the API server stored it, after injection. */
  pod: V1Pod;
  /** Node.js source of the app container's process (ESM); none for an idle client pod. */
  appScript?: string;
  /** A TokenRequest token bound to this pod, audience lanyard-ca. */
  token: string;
}

export interface ServiceEntry {
  /** The name apps call, as in http://<name>:<port>/. */
  name: string;
  /** The pod (metadata.name) behind it. */
  pod: string;
  port: number;
}

export interface StartOptions {
  /** The control plane's gRPC port on the bridge address (hostAddress). */
  controlPlanePort: number;
  rootsPem: string;
  services: readonly ServiceEntry[];
}

export interface RunningPod {
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  /** What the sidecar and the app wrote (stdout and stderr), bounded. */
  sidecarLog(): string;
  appLog(): string;
}

/** What this machine lacks to run pods in network namespaces; empty when nothing. */
export function missingForNetns(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (uid 0)');
  for (const tool of ['ip', 'iptables', 'iptables-restore', 'iptables-save', 'setpriv']) {
    if (!['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((dir) => existsSync(join(dir, tool)))) {
      missing.push(tool);
    }
  }
  return missing;
}

/**
 * An injected container's command line as run here: its node flags kept, the image's paths
 * ours. A command the image could not run (no node, no bin/lanyard.js) fails the pod.
 */
function imageCommand(container: V1Container): string[] {
  const [program, ...rest] = [...(container.command ?? []), ...(container.args ?? [])];
  if (program !== 'node' || !rest.includes('bin/lanyard.js'))
    throw new Error(
      `pod runner: ${container.name} runs ${[program, ...rest].join(' ')}, not node bin/lanyard.js`,
    );
  return [process.execPath, ...rest.map((arg) => (arg === 'bin/lanyard.js' ? LANYARD : arg))];
}

/** Runs a command to completion; rejects with its stderr when it fails. */
function run(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
      ...(env ? { env } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`)),
    );
  });
}

/** Resolves a container's env as the kubelet would, for the fieldRefs our injector uses. */
function containerEnv(container: V1Container | undefined, pod: V1Pod, ip: string): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': ip,
  };
  const env: Record<string, string> = {};
  for (const variable of container?.env ?? ([] as V1EnvVar[])) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.fieldRef) {
      const value = fields[variable.valueFrom.fieldRef.fieldPath];
      if (value === undefined)
        throw new Error(`pod runner: cannot resolve ${variable.valueFrom.fieldRef.fieldPath}`);
      env[variable.name] = value;
    } else throw new Error(`pod runner: env ${variable.name} has a source the runner does not resolve`);
  }
  return env;
}

function getStatus(host: string, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

class Process {
  private output = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    const take = (chunk: Buffer) => {
      if (this.output.length < LOG_LIMIT) this.output += chunk.toString();
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }
  log(): string {
    return this.output;
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

export class PodNetwork {
  private readonly processes: Process[] = [];
  private readonly namespaces: string[] = [];
  private readonly hostLinks: string[] = [];
  private readonly hostRules: string[][] = [];
  private bridgeUp = false;
  private readonly scratch = mkdtempSync(join(tmpdir(), 'lanyard-pods-'));
  private nextHost = 2;

  private constructor(
    /** This run's id: in every name the runner creates. */
    readonly id: string,
    private readonly bridge: string,
    private readonly prefix: string,
  ) {}

  /** The host's address on the bridge: pods reach the control plane there. */
  get hostAddress(): string {
    return `${this.prefix}.1`;
  }

  /** Creates the bridge on a /24 no route on this host uses yet. */
  static async create(): Promise<PodNetwork> {
    const id = randomBytes(3).toString('hex');
    const routes = await run('ip', ['-4', 'route', 'show']);
    let prefix = '';
    for (let attempt = 0; attempt < 50 && !prefix; attempt++) {
      const candidate = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}`;
      if (!routes.includes(`${candidate}.`)) prefix = candidate;
    }
    if (!prefix) throw new Error('pod runner: no free 10.x.y.0/24 on this host');
    const network = new PodNetwork(id, `lyb${id}`, prefix);
    try {
      await run('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
      network.bridgeUp = true;
      await run('ip', ['addr', 'add', `${network.hostAddress}/24`, 'dev', network.bridge]);
      await run('ip', ['link', 'set', network.bridge, 'up']);
      // Pod-to-pod frames cross the host's FORWARD chain when br_netfilter is loaded, and the
      // control plane is reached through INPUT: both may default to DROP (Docker hosts).
      const comment = ['-m', 'comment', '--comment', `lanyard-test-${id}`];
      for (const rule of [
        ['FORWARD', '-i', network.bridge, '-o', network.bridge, ...comment, '-j', 'ACCEPT'],
        ['INPUT', '-i', network.bridge, ...comment, '-j', 'ACCEPT'],
      ]) {
        await run('iptables', ['-I', ...rule]);
        network.hostRules.push(rule);
      }
    } catch (error) {
      await network.stop();
      throw error;
    }
    return network;
  }

  /** Starts the pods: network first (so every hosts file and route is known), then processes. */
  async start(pods: readonly PodToRun[], options: StartOptions): Promise<Map<string, RunningPod>> {
    try {
      return await this.startPods(pods, options);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async startPods(
    pods: readonly PodToRun[],
    options: StartOptions,
  ): Promise<Map<string, RunningPod>> {
    const ips = new Map(pods.map((p) => [p.pod.metadata!.name!, `${this.prefix}.${this.nextHost++}`]));
    const podOf = new Map(pods.map((p) => [p.pod.metadata!.name!, p.pod]));
    const hostLines = ['127.0.0.1 localhost'];
    const routes: Record<string, { address: string; port: number; spiffeId: string }> = {};
    for (const service of options.services) {
      const pod = podOf.get(service.pod);
      const ip = ips.get(service.pod);
      if (!pod || !ip)
        throw new Error(`pod runner: service ${service.name} names unknown pod ${service.pod}`);
      const sidecar = containerEnv(this.sidecarOf(pod), pod, ip);
      const namespace = pod.metadata!.namespace!;
      hostLines.push(
        `${ip} ${service.name} ${service.name}.${namespace} ${service.name}.${namespace}.svc.cluster.local`,
      );
      routes[`${service.name}:${service.port}`] = {
        address: ip,
        port: Number(sidecar.LANYARD_INBOUND_PORT ?? 15006),
        spiffeId: `spiffe://${sidecar.LANYARD_TRUST_DOMAIN ?? 'cluster.local'}/ns/${namespace}/sa/${pod.spec?.serviceAccountName ?? 'default'}`,
      };
    }

    const running = new Map<string, RunningPod>();
    for (const spec of pods) {
      const name = spec.pod.metadata!.name!;
      running.set(name, await this.startPod(spec, ips.get(name)!, hostLines, routes, options));
    }
    return running;
  }

  private sidecarOf(pod: V1Pod): V1Container {
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'lanyard-sidecar');
    if (!sidecar)
      throw new Error(`pod runner: pod ${pod.metadata?.name} has no lanyard-sidecar (not injected?)`);
    return sidecar;
  }

  private async startPod(
    spec: PodToRun,
    ip: string,
    hostLines: readonly string[],
    routes: Record<string, unknown>,
    options: StartOptions,
  ): Promise<RunningPod> {
    const { pod } = spec;
    const index = this.namespaces.length;
    const netns = `lanyard-${this.id}-${index}`;
    const hostVeth = `lyh${this.id}${index}`;
    const podVeth = `lyp${this.id}${index}`;
    await run('ip', ['netns', 'add', netns]);
    this.namespaces.push(netns);
    await run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', podVeth, 'netns', netns]);
    this.hostLinks.push(hostVeth);
    await run('ip', ['link', 'set', hostVeth, 'master', this.bridge, 'up']);
    const inNs = (...args: string[]) => run('ip', ['netns', 'exec', netns, ...args]);
    await inNs('ip', 'link', 'set', 'lo', 'up');
    await inNs('ip', 'addr', 'add', `${ip}/24`, 'dev', podVeth);
    await inNs('ip', 'link', 'set', podVeth, 'up');
    await inNs('ip', 'route', 'add', 'default', 'via', this.hostAddress);
    // `ip netns exec` bind-mounts these files over /etc for the processes it starts.
    const etc = `/etc/netns/${netns}`;
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'hosts'), `${[...hostLines, `${ip} ${pod.metadata!.name}`].join('\n')}\n`);

    // The init container, with the arguments the injector gave it.
    const init = pod.spec?.initContainers?.find((c) => c.name === 'lanyard-init');
    if (!init) throw new Error(`pod runner: pod ${pod.metadata?.name} has no lanyard-init`);
    const [program, ...initArgs] = imageCommand(init);
    await inNs(program!, ...initArgs);

    // The kubelet's volumes: the projected token and the roots ConfigMap, readable by uid 1337.
    const files = mkdtempSync(join(this.scratch, `${pod.metadata!.name}-`));
    chmodSync(this.scratch, 0o755);
    chmodSync(files, 0o755);
    chownSync(files, PROXY_UID, PROXY_UID);
    const tokenPath = join(files, 'token');
    writeFileSync(tokenPath, spec.token, { mode: 0o600 });
    chownSync(tokenPath, PROXY_UID, PROXY_UID);
    const rootsPath = join(files, 'roots.pem');
    writeFileSync(rootsPath, options.rootsPem, { mode: 0o644 });
    const routesPath = join(files, 'routes.json');
    writeFileSync(routesPath, JSON.stringify(routes), { mode: 0o644 });

    const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: files, NODE_OPTIONS: '' };
    const sidecarEnv: Record<string, string> = {
      ...base,
      ...containerEnv(this.sidecarOf(pod), pod, ip),
      LANYARD_CONTROL_PLANE: `${this.hostAddress}:${options.controlPlanePort}`,
      LANYARD_ROOTS_FILE: rootsPath,
      LANYARD_TOKEN_PATH: tokenPath,
      LANYARD_ROUTES_FILE: routesPath,
    };
    const sidecar = this.spawnIn(netns, PROXY_UID, imageCommand(this.sidecarOf(pod)), sidecarEnv);
    const adminPort = Number(sidecarEnv.LANYARD_ADMIN_PORT ?? 15020);
    // Like the sidecar's startupProbe: the app starts once the sidecar is ready.
    const ready = eventually(
      async () => (await getStatus(ip, adminPort, '/ready')) === 200,
      `the sidecar of ${pod.metadata!.name} to be ready`,
      60_000,
      200,
    );
    const exited = sidecar.exited.then((code) => {
      throw new Error(`the sidecar of ${pod.metadata!.name} exited ${code}: ${sidecar.log().slice(-2000)}`);
    });
    await Promise.race([ready, exited]);
    exited.catch(() => undefined);

    const container = pod.spec?.containers[0];
    const appFile = join(files, 'app.mjs');
    writeFileSync(appFile, spec.appScript ?? 'setInterval(() => undefined, 1 << 30);\n', { mode: 0o644 });
    const app = this.spawnIn(netns, APP_UID, [process.execPath, appFile], {
      ...base,
      ...containerEnv(container, pod, ip),
    });
    return {
      name: pod.metadata!.name!,
      ip,
      netns,
      sidecarLog: () => sidecar.log(),
      appLog: () => app.log(),
    };
  }

  private spawnIn(netns: string, uid: number, argv: string[], env: NodeJS.ProcessEnv): Process {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'setpriv',
        `--reuid=${uid}`,
        `--regid=${uid}`,
        '--clear-groups',
        '--',
        ...argv,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const process_ = new Process(child);
    this.processes.push(process_);
    return process_;
  }

  /** Runs a command to completion in a pod's network namespace, as the app's UID. */
  exec(pod: RunningPod, argv: string[]): Promise<string> {
    return run('ip', [
      'netns',
      'exec',
      pod.netns,
      'setpriv',
      `--reuid=${APP_UID}`,
      `--regid=${APP_UID}`,
      '--clear-groups',
      '--',
      ...argv,
    ]);
  }

  /** Stops every process and removes every namespace, link, file and rule this run made. */
  async stop(): Promise<void> {
    const errors: string[] = [];
    const attempt = async (what: string, action: () => Promise<unknown> | void) => {
      try {
        await action();
      } catch (error) {
        errors.push(`${what}: ${(error as Error).message}`);
      }
    };
    for (const process_ of this.processes.splice(0)) await attempt('process', () => process_.stop());
    for (const netns of this.namespaces.splice(0)) {
      await attempt(`netns ${netns}`, () => run('ip', ['netns', 'del', netns]));
      await attempt(`/etc/netns/${netns}`, () =>
        rmSync(`/etc/netns/${netns}`, { recursive: true, force: true }),
      );
    }
    // Deleting a namespace deletes its veth end and so the pair, but the kernel may finish that
    // after `ip netns del` returns: a failed delete counts only if the link is still there.
    const linkPresent = (link: string) =>
      run('ip', ['link', 'show', link]).then(
        () => true,
        () => false,
      );
    for (const link of this.hostLinks.splice(0)) {
      if (!(await linkPresent(link))) continue;
      await attempt(`link ${link}`, () =>
        run('ip', ['link', 'del', link]).catch(async (error: unknown) => {
          if (await linkPresent(link)) throw error;
        }),
      );
    }
    if (this.bridgeUp) {
      this.bridgeUp = false;
      await attempt(`bridge ${this.bridge}`, () => run('ip', ['link', 'del', this.bridge]));
    }
    for (const rule of this.hostRules.splice(0))
      await attempt('iptables', () => run('iptables', ['-D', ...rule]));
    await attempt('scratch', () => rmSync(this.scratch, { recursive: true, force: true }));
    if (errors.length > 0) throw new Error(`pod runner: cleanup incomplete: ${errors.join('; ')}`);
  }

  /** Every name this run may have created: for a test asserting nothing was left behind. */
  async leftovers(): Promise<string[]> {
    const found: string[] = [];
    const mine = (text: string, prefixes: string[]) =>
      text
        .split(/\s+/)
        .map((word) => word.replace(/[:@].*$/, ''))
        .filter((word) => prefixes.some((prefix) => word.startsWith(prefix)));
    found.push(...mine(await run('ip', ['netns', 'list']), [`lanyard-${this.id}-`]));
    found.push(
      ...mine(await run('ip', ['-o', 'link', 'show']), [`lyb${this.id}`, `lyh${this.id}`, `lyp${this.id}`]),
    );
    if ((await run('iptables', ['-S'])).includes(`lanyard-test-${this.id}`))
      found.push('host iptables rules');
    if (existsSync('/etc/netns')) {
      found.push(...readdirSync('/etc/netns').filter((name) => name.startsWith(`lanyard-${this.id}-`)));
    }
    if (existsSync(this.scratch)) found.push(this.scratch);
    return found;
  }
}
