// The control plane in one process: the CA (keyring, issuance, caller authentication) and the
// policy stream on one gRPC port, fed either by the AuthPolicy controller (Kubernetes) or by a
// folder of AuthPolicy files (local mode). `lanyard controller` and `lanyard dev` both use it.
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { Attestor } from '../ca/attestor.ts';
import { CallerAuthenticator } from '../ca/caller-auth.ts';
import { CertificateAuthority } from '../ca/certificate-authority.ts';
import { FileKeyStore } from '../ca/file-keystore.ts';
import { startCaServer, type CaServer } from '../ca/grpc-server.ts';
import { JoinTokens } from '../ca/join-tokens.ts';
import type { KeyStore } from '../ca/keystore.ts';
import { Keyring } from '../ca/keyring.ts';
import { createCaMetrics } from '../ca/metrics.ts';
import type { RotationPolicy } from '../ca/rotation.ts';
import { SecretKeyStore } from '../ca/secret-keystore.ts';
import { TokenReviewAttestor } from '../ca/token-review-attestor.ts';
import { DEFAULT_TTL_POLICY } from '../ca/ttl.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { watchPolicyFolder } from '../lib/policy/folder.ts';
import type { LoadedPolicies } from '../lib/policy/loader.ts';
import { resolveOptions } from '../lib/policy/options.ts';
import { LastGoodPolicies, type CompileOptions, type WorkloadRef } from '../lib/policy/index.ts';
import { workloadSpiffeId, type WorkloadIdentity } from '../lib/spiffe.ts';
import { LeaderElector } from '../kube/leader.ts';
import { kubePodLookup } from '../kube/pods.ts';
import { kubeSecretClient } from '../kube/secrets.ts';
import { kubeTokenReviewer } from '../kube/token-review.ts';
import { PolicyController } from './policy-controller.ts';
import { PolicyStream, type WorkloadResolver } from './policy-stream.ts';

const DAY = 24 * 3600_000;

/** Rotation defaults: prepare the next root at half-life, let the bundle spread for a day. */
export const DEFAULT_ROTATION: RotationPolicy = Object.freeze({
  prepareAtFraction: 0.5,
  overlapMs: DAY,
  leafLifetimeMs: DEFAULT_TTL_POLICY.maxMs + DEFAULT_TTL_POLICY.skewMs,
  jwtKeyRotationMs: 7 * DAY,
  jwtLifetimeMs: 10 * 60_000,
});

/** A workload of local mode: what a pod would be in a cluster. */
export interface LocalWorkload {
  name: string;
  namespace: string;
  serviceAccount: string;
  labels: Record<string, string>;
}

export type PolicySource =
  | {
      kind: 'kubernetes';
      kubeConfig: KubeConfig;
      /** The control plane's namespace: its Secret (root) and Lease live there. */
      namespace: string;
      /** This replica's name, for leader election. */
      identity: string;
    }
  | { kind: 'folder'; dir: string; workloads: readonly LocalWorkload[]; stateDir: string };

export interface ControlPlaneOptions {
  source: PolicySource;
  trustDomain?: string;
  compile?: Omit<CompileOptions, 'trustDomain'>;
  host?: string;
  /** gRPC port for the CA and the policy stream; default 15012, 0 for any. */
  port?: number;
  log?: Logger;
  registry?: Registry;
}

export interface ControlPlane {
  readonly address: string;
  /** The SPIFFE ID the control plane serves with; sidecars pin it. */
  readonly spiffeId: string;
  readonly registry: Registry;
  rootsPem(): string;
  /** Local mode: a single-use join token for a registered workload. */
  joinToken(workloadName: string): string;
  /** Set when the source is a folder: the messages of the last load (invalid policies). */
  readonly policyMessages: () => readonly string[];
  readonly stream: PolicyStream;
  close(): Promise<void>;
}

export const CONTROL_PLANE_IDENTITY = {
  namespace: 'lanyard-system',
  serviceAccount: 'lanyard-controller',
} as const;

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.log ?? silentLogger;
  const trustDomain = options.trustDomain ?? 'cluster.local';
  const compile = resolveOptions({ ...options.compile, trustDomain });
  const registry = options.registry ?? new Registry();
  const source = options.source;
  // In a cluster the control plane serves as its own ServiceAccount in its own namespace.
  const serverIdentity = {
    trustDomain,
    namespace: source.kind === 'kubernetes' ? source.namespace : CONTROL_PLANE_IDENTITY.namespace,
    serviceAccount: CONTROL_PLANE_IDENTITY.serviceAccount,
  };
  const closers: (() => Promise<void> | void)[] = [];

  const store: KeyStore =
    source.kind === 'folder'
      ? new FileKeyStore(join(source.stateDir, 'ca.json'))
      : new SecretKeyStore(kubeSecretClient(source.kubeConfig), source.namespace, 'lanyard-ca');
  const keyring = await Keyring.open({
    store,
    trustDomain,
    clock: systemClock,
    rotation: DEFAULT_ROTATION,
    logger: log,
  });
  const rotationTimer = setInterval(() => {
    keyring.tick().catch((error: unknown) => log.error({ err: String(error) }, 'CA rotation check failed'));
  }, 60_000);
  rotationTimer.unref();
  closers.push(() => clearInterval(rotationTimer));

  const ca = new CertificateAuthority({
    keyring,
    clock: systemClock,
    ttl: DEFAULT_TTL_POLICY,
    jwtIssuer: `https://lanyard.${trustDomain}`,
  });
  const joinTokens = new JoinTokens(systemClock);
  let serviceAccountTokens: Attestor | undefined;
  if (source.kind === 'kubernetes') {
    serviceAccountTokens = new TokenReviewAttestor({
      trustDomain,
      reviewer: kubeTokenReviewer(source.kubeConfig),
      pods: kubePodLookup(source.kubeConfig),
      clock: systemClock,
    });
  }
  const auth = new CallerAuthenticator({
    trustDomain,
    clock: systemClock,
    keyring,
    joinTokens,
    ...(serviceAccountTokens ? { serviceAccountTokens } : {}),
  });

  const signers = () =>
    [keyring.state.active, keyring.state.next, keyring.state.retiring].flatMap((record) =>
      record ? [new X509Certificate(record.signerCertPem)] : [],
    );

  let policyMessages: readonly string[] = [];
  let resolver: WorkloadResolver;
  let controller: PolicyController | undefined;
  const localWorkloads = new Map<string, LocalWorkload>();
  if (source.kind === 'folder') {
    for (const workload of source.workloads) localWorkloads.set(workload.name, workload);
    resolver = {
      resolve: (identity, podName): WorkloadRef | undefined => {
        const workload = localWorkloads.get(podName);
        if (
          !workload ||
          workload.namespace !== identity.namespace ||
          workload.serviceAccount !== identity.serviceAccount
        ) {
          return undefined;
        }
        return { namespace: workload.namespace, labels: workload.labels };
      },
    };
  } else {
    let leading = false;
    controller = new PolicyController({
      kubeConfig: source.kubeConfig,
      compile,
      isLeader: () => leading,
      onView: (view) =>
        stream.publish({ index: view.policySet.index, options: compile, generations: view.generations }),
      delivery: (key, generation) => stream.delivery(key, generation),
      log,
    });
    const elector = new LeaderElector({
      kubeConfig: source.kubeConfig,
      namespace: source.namespace,
      leaseName: 'lanyard-controller',
      identity: source.identity,
      onStartedLeading: () => {
        leading = true;
        controller?.resync();
      },
      onStoppedLeading: () => (leading = false),
      log,
    });
    const policies = controller;
    resolver = policies.resolver;
    closers.push(
      () => elector.stop(),
      () => policies.stop(),
    );
    elector.start();
  }

  const stream = new PolicyStream({ trustDomain, signers, resolver, log });
  const server: CaServer = await startCaServer({
    ca,
    auth,
    trustDomain,
    serverIdentity: serverIdentity,
    clock: systemClock,
    logger: log,
    metrics: createCaMetrics(registry, keyring),
    host: options.host ?? '0.0.0.0',
    port: options.port ?? 15012,
    services: [{ definition: stream.definition, implementation: stream.implementation() }],
  });
  closers.push(() => server.close());

  if (source.kind === 'folder') {
    const lastGood = new LastGoodPolicies();
    let published = false;
    const publish = (loaded: LoadedPolicies) => {
      policyMessages = loaded.messages;
      for (const message of loaded.messages) log.warn({ message }, 'policy problem');
      // A file that cannot be read or parsed hides the policies it held: rather than drop them
      // (and perhaps fail open), the last good set stays in force until the folder reads cleanly.
      if (loaded.fileErrors.length > 0 && published) {
        policyMessages = [...loaded.messages, 'the last good set of policies stays in force'];
        log.warn(
          { files: loaded.fileErrors.map((e) => e.path) },
          'policy files unreadable; keeping the last good set',
        );
        return;
      }
      const compiled = lastGood.compile(loaded.inputs, compile);
      for (const key of compiled.retained) {
        policyMessages = [...policyMessages, `${key}: refused; its last accepted version stays in force`];
      }
      const generations = new Map(compiled.set.results.map((r) => [`${r.ref.namespace}/${r.ref.name}`, 1]));
      stream.publish({ index: compiled.set.index, options: compile, generations });
      published = true;
    };
    const watcher = watchPolicyFolder(
      source.dir,
      publish,
      (error) => log.error({ err: String(error) }, 'policy folder unreadable'),
      {
        rootNamespace: compile.rootNamespace,
        defaultAction: compile.defaultAction,
        defaultMtls: compile.defaultMtls,
        trustDomain,
      },
    );
    publish(watcher.initial);
    closers.push(() => watcher.close());
  } else {
    await controller!.start();
  }

  const host = options.host ?? '0.0.0.0';
  return {
    address: `${host === '0.0.0.0' ? '127.0.0.1' : host}:${server.port}`,
    spiffeId: workloadSpiffeId(serverIdentity).toString(),
    registry,
    stream,
    rootsPem: () => keyring.bundle().rootPems.join(''),
    joinToken: (name) => {
      const workload = localWorkloads.get(name);
      if (!workload) throw new TypeError(`no local workload named "${name}"`);
      const identity: WorkloadIdentity = {
        trustDomain,
        namespace: workload.namespace,
        serviceAccount: workload.serviceAccount,
      };
      return joinTokens.create(identity);
    },
    policyMessages: () => policyMessages,
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
}
