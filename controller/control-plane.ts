// The control plane in one process: the CA (keyring, issuance, caller authentication) and the
// policy stream on one gRPC port, fed either by the AuthPolicy controller (Kubernetes) or by a
// folder of AuthPolicy files (local mode). `lanyard controller` and `lanyard dev` both use it.
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
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
import { buildOidcHttp } from '../ca/oidc-http.ts';
import type { RotationPolicy } from '../ca/rotation.ts';
import { SecretKeyStore } from '../ca/secret-keystore.ts';
import { TokenReviewAttestor } from '../ca/token-review-attestor.ts';
import { DEFAULT_JWT_TTL_MS } from '../ca/jwt.ts';
import { DEFAULT_TTL_POLICY, ttlPolicy, type TtlPolicy } from '../ca/ttl.ts';
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
import { InjectionHosting, type WebhookHostingOptions } from './inject/hosting.ts';
import { PolicyController } from './policy-controller.ts';
import { PolicyStream, type WorkloadResolver } from './policy-stream.ts';
import { createMonitorHost, type MonitorHost, type MonitorSettings } from './monitor/host.ts';
import {
  folderPolicyView,
  policyStates,
  startDashboard,
  type DashboardHandle,
  type DashboardOptions,
  type PolicyView,
} from './dashboard/index.ts';
import { BlockService } from './monitor/block-service.ts';
import { registerIdpNoticeRoute } from './monitor/idp-notice-route.ts';

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
  /** X.509-SVID lifetimes (default 1 h within [5 min, 24 h]). */
  ttl?: Partial<Pick<TtlPolicy, 'defaultMs' | 'minMs' | 'maxMs'>>;
  /** The lifetime, and the longest a caller may ask for, of JWT-SVIDs; default 5 min. */
  jwtSvidTtlMs?: number;
  /** HTTP port for /healthz, /ready, /metrics and OIDC discovery; unset serves none, 0 any. */
  httpPort?: number;
  /** Kubernetes source only: host injection (webhook, caBundle, roots, pods without sidecar). */
  injection?: {
    /** Unset: the webhook is not hosted, the rest still runs. */
    webhook?: WebhookHostingOptions;
    evictPodsWithoutSidecar?: boolean;
  };
  /** Detector thresholds, automatic blocks and the detection webhook. */
  monitor?: MonitorSettings;
}

/** The injection webhook a control plane hosts. */
export interface HostedWebhook {
  readonly port: number;
  servingCertificate(): X509Certificate | undefined;
  /** Issues a new serving certificate now; the running listener serves it to new connections. */
  renewServingCertificate(): void;
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
  /** Decision events from sidecars, detectors, responses and the block list. */
  readonly monitor: MonitorHost;
  /** host:port of the HTTP endpoints, when an HTTP port was given. */
  readonly httpAddress?: string;
  /** Why the control plane is not ready; empty when it is (what /ready answers). */
  readiness(): string[];
  readonly webhook?: HostedWebhook;
  /**
   * Starts the monitoring dashboard (docs/monitoring.md) on this control plane; once only. Its
   * handle gives the URL and the login token (generated unless given). Closed with the plane.
   */
  startDashboard(options: DashboardOptions): Promise<DashboardHandle>;
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
  const { idpNotices, ...monitorSettings } = options.monitor ?? {};
  if (idpNotices && options.httpPort === undefined) {
    throw new TypeError('the identity-provider notice receiver needs the HTTP port');
  }
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
  const ttl = ttlPolicy(options.ttl);
  const jwtSvidTtlMs = options.jwtSvidTtlMs ?? DEFAULT_JWT_TTL_MS;
  if (!Number.isInteger(jwtSvidTtlMs) || jwtSvidTtlMs <= 0 || jwtSvidTtlMs > 3600_000) {
    throw new TypeError('jwtSvidTtlMs must be a positive number of milliseconds, at most one hour');
  }
  // The old root stays in the bundle while a leaf it signed may live; an old JWT key while a
  // token it signed may.
  const rotation: RotationPolicy = {
    ...DEFAULT_ROTATION,
    leafLifetimeMs: ttl.maxMs + ttl.skewMs,
    jwtLifetimeMs: Math.max(DEFAULT_ROTATION.jwtLifetimeMs, 2 * jwtSvidTtlMs),
  };
  const keyring = await Keyring.open({
    store,
    trustDomain,
    clock: systemClock,
    rotation,
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
    ttl,
    jwtIssuer: `https://lanyard.${trustDomain}`,
    jwtMaxTtlMs: jwtSvidTtlMs,
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
  let hosting: InjectionHosting | undefined;
  let policiesLoaded = false;
  let leading = false;
  let folderPolicies: PolicyView | undefined;
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
    controller = new PolicyController({
      kubeConfig: source.kubeConfig,
      compile,
      isLeader: () => leading,
      onView: (view) =>
        stream.publish({ index: view.policySet.index, options: compile, generations: view.generations }),
      delivery: (key, generation) => stream.delivery(key, generation),
      onPodEvent: (key) => hosting?.podChanged(key),
      onNamespaceEvent: (name) => hosting?.namespaceChanged(name),
      log,
    });
    if (options.injection) {
      const webhook = options.injection.webhook;
      hosting = new InjectionHosting({
        kubeConfig: source.kubeConfig,
        namespace: source.namespace,
        keyring,
        cache: controller,
        isLeader: () => leading,
        registry,
        clock: systemClock,
        ...(webhook
          ? {
              webhook: {
                ...webhook,
                // Sidecars pin the control plane's SPIFFE ID unless told otherwise.
                inject: { controlPlaneId: workloadSpiffeId(serverIdentity).toString(), ...webhook.inject },
              },
            }
          : {}),
        evictPodsWithoutSidecar: options.injection.evictPodsWithoutSidecar ?? false,
        log,
      });
    }
    const elector = new LeaderElector({
      kubeConfig: source.kubeConfig,
      namespace: source.namespace,
      leaseName: 'lanyard-controller',
      identity: source.identity,
      onStartedLeading: () => {
        leading = true;
        controller?.resync();
        hosting?.startedLeading();
      },
      onStoppedLeading: () => (leading = false),
      log,
    });
    const policies = controller;
    const injection = hosting;
    resolver = policies.resolver;
    closers.push(
      () => elector.stop(),
      () => policies.stop(),
      () => injection?.stop(),
    );
    elector.start();
  }

  const stream = new PolicyStream({ trustDomain, signers, resolver, log });
  const monitor = createMonitorHost({
    trustDomain,
    signers,
    registry,
    clock: systemClock,
    log,
    ...monitorSettings,
    ...(source.kind === 'kubernetes' && {
      kube: {
        kubeConfig: source.kubeConfig,
        namespace: source.namespace,
        leaseName: 'lanyard-controller',
        isLeader: () => leading,
      },
    }),
  });
  closers.push(() => monitor.close());
  // The block list, pushed to every sidecar (which enforce it before any policy).
  const blockService = new BlockService({ trustDomain, signers, source: monitor.blocks, log });
  closers.push(() => blockService.close());
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
    services: [
      { definition: stream.definition, implementation: stream.implementation() },
      { definition: monitor.service.definition, implementation: monitor.service.implementation() },
      { definition: blockService.definition, implementation: blockService.implementation() },
    ],
  });
  closers.push(() => server.close());

  const host = options.host ?? '0.0.0.0';
  const readiness = (): string[] => [
    ...(policiesLoaded ? [] : ['the policies are not loaded yet']),
    ...(hosting?.readiness() ?? []),
  ];
  let httpAddress: string | undefined;
  if (options.httpPort !== undefined) {
    // Up before the policies and the webhook, so that probes see "not ready" rather than nothing.
    const http = buildOidcHttp({ ca, registry });
    http.get('/ready', (_request, reply) => {
      const reasons = readiness();
      return reply.status(reasons.length === 0 ? 200 : 503).send({ ready: reasons.length === 0, reasons });
    });
    if (idpNotices) {
      registerIdpNoticeRoute(http, {
        ...idpNotices,
        respond: (detection) => monitor.respond(detection),
        registry,
        clock: systemClock,
        log,
      });
    }
    await http.listen({ port: options.httpPort, host });
    closers.push(() => http.close());
    httpAddress = `${host === '0.0.0.0' ? '127.0.0.1' : host}:${(http.server.address() as AddressInfo).port}`;
  }

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
      folderPolicies = folderPolicyView(compiled, generations, [...localWorkloads.values()]);
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
    try {
      await controller!.start();
      await hosting?.start();
    } catch (error) {
      // Leave nothing listening or watching behind a failed start.
      for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
      throw error;
    }
  }
  policiesLoaded = true;

  const hosted = hosting;
  let dashboard: Promise<DashboardHandle> | undefined;
  return {
    address: `${host === '0.0.0.0' ? '127.0.0.1' : host}:${server.port}`,
    spiffeId: workloadSpiffeId(serverIdentity).toString(),
    registry,
    stream,
    monitor,
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
    ...(httpAddress ? { httpAddress } : {}),
    readiness,
    ...(hosted?.webhookPort !== undefined
      ? {
          webhook: {
            port: hosted.webhookPort,
            servingCertificate: () => hosted.servingCertificate,
            renewServingCertificate: () => hosted.renewServingCertificate(),
          },
        }
      : {}),
    startDashboard(dashboardOptions) {
      if (dashboard) throw new TypeError('the dashboard is already started');
      dashboard = startDashboard(
        {
          monitor,
          sidecars: () => stream.sidecars(),
          policies: (now) =>
            policyStates(
              source.kind === 'folder' ? folderPolicies : controller?.current,
              (key, generation) => stream.delivery(key, generation),
              now,
            ),
          clock: systemClock,
          log,
        },
        dashboardOptions,
      );
      const started = dashboard;
      // A start that failed (a port in use) may be tried again.
      started.catch(() => (dashboard = undefined));
      closers.push(() => started.then((handle) => handle.close()).catch(() => undefined));
      return started;
    },
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
}
