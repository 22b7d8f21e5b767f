// Injection in a cluster, as the controller hosts it. Every replica serves the webhook (the
// Service spreads the API server's calls) with a serving certificate from the control plane's
// CA, and keeps the pods-without-sidecar gauge. Only the leader writes: the caBundle of the
// webhook configuration, the `lanyard-roots` ConfigMaps, PodWithoutSidecar Events, evictions.
import type { X509Certificate } from 'node:crypto';
import {
  CoreV1Api,
  type KubeConfig,
  type V1ConfigMap,
  type V1Namespace,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Keyring } from '../../ca/keyring.ts';
import { WorkQueue } from '../../kube/workqueue.ts';
import type { Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { CaBundlePatcher, kubeWebhookConfigurationClient } from './ca-bundle.ts';
import type { InjectErrorCode } from './errors.ts';
import { INJECT_LABEL, ROOTS_CONFIGMAP, type InjectOptions } from './injector.ts';
import { kubePodReportClient, PodsWithoutSidecar } from './pods-without-sidecar.ts';
import { kubeConfigMapClient, RootsPublisher } from './roots-configmap.ts';
import { startInjectionWebhook, type InjectionWebhook } from './server.ts';
import { ServingCertificate, webhookDnsNames } from './serving-cert.ts';

export interface WebhookHostingOptions {
  /** 0 for any free port. */
  port: number;
  host?: string;
  /** The MutatingWebhookConfiguration whose caBundle the leader keeps current. */
  configName: string;
  /** The Service in front of the webhook, in the control plane's namespace. */
  service: string;
  inject: InjectOptions;
  /** IP SANs besides the Service's DNS names, for a webhook reached by address (tests). */
  ipAddresses?: readonly string[];
  servingTtlMs?: number;
  /** How often the leader re-checks caBundle (a `helm upgrade` may reset it). Default 30 s. */
  caBundleCheckMs?: number;
  /** How often the serving certificate is checked for renewal. Default 30 s. */
  certCheckMs?: number;
}

/** The Pod and Namespace caches of the policy controller, shared rather than watched twice. */
export interface ClusterCache {
  pod(key: string): V1Pod | undefined;
  podList(): V1Pod[];
  namespace(name: string): V1Namespace | undefined;
  namespaceList(): V1Namespace[];
}

export interface InjectionHostingOptions {
  kubeConfig: KubeConfig;
  /** The control plane's namespace: it gets `lanyard-roots` too, and is never injected. */
  namespace: string;
  keyring: Keyring;
  cache: ClusterCache;
  isLeader: () => boolean;
  registry: Registry;
  clock: Clock;
  /** Unset: the webhook is not hosted (LANYARD_WEBHOOK_PORT=0). */
  webhook?: WebhookHostingOptions;
  evictPodsWithoutSidecar?: boolean;
  log?: Logger;
}

const isInjected = (namespace: V1Namespace | undefined) =>
  namespace?.metadata?.labels?.[INJECT_LABEL] === 'enabled' && namespace.status?.phase !== 'Terminating';

export class InjectionHosting {
  private readonly log: Logger;
  private readonly serving: ServingCertificate | undefined;
  private readonly patcher: CaBundlePatcher | undefined;
  private readonly roots: RootsPublisher;
  private readonly rootsQueue: WorkQueue;
  private readonly pods: PodsWithoutSidecar;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  private server: InjectionWebhook | undefined;

  constructor(private readonly options: InjectionHostingOptions) {
    this.log = options.log ?? silentLogger;
    const { kubeConfig, keyring, webhook } = options;
    const bundlePem = () => keyring.bundle().rootPems.join('');
    if (webhook) {
      this.serving = new ServingCertificate({
        signer: () => keyring.signer,
        dnsNames: webhookDnsNames(webhook.service, options.namespace),
        ...(webhook.ipAddresses ? { ipAddresses: webhook.ipAddresses } : {}),
        ...(webhook.servingTtlMs !== undefined ? { ttlMs: webhook.servingTtlMs } : {}),
        clock: options.clock,
        log: this.log,
      });
      this.patcher = new CaBundlePatcher({
        client: kubeWebhookConfigurationClient(kubeConfig),
        name: webhook.configName,
        bundlePem,
        log: this.log,
      });
    }
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.roots = new RootsPublisher({
      client: kubeConfigMapClient(kubeConfig),
      rootsPem: bundlePem,
      warnUnmanaged: (namespace, configMap) => this.warnUnmanaged(core, namespace, configMap),
      log: this.log,
    });
    this.rootsQueue = new WorkQueue({
      name: 'lanyard-roots',
      reconcile: async (namespace) => {
        if (!this.options.isLeader() || !this.wantsRoots(namespace)) return;
        await this.roots.publish(namespace);
      },
      log: this.log,
    });
    this.pods = new PodsWithoutSidecar({
      client: kubePodReportClient(kubeConfig),
      pod: (key) => options.cache.pod(key),
      pods: () => options.cache.podList(),
      namespace: (name) => options.cache.namespace(name),
      check: { controlPlaneNamespace: options.namespace },
      isLeader: options.isLeader,
      evict: options.evictPodsWithoutSidecar ?? false,
      registry: options.registry,
      log: this.log,
    });
  }

  /** Issues the serving certificate and starts the webhook listener (when hosted). */
  async start(): Promise<void> {
    const { webhook, keyring } = this.options;
    this.unsubscribe.push(keyring.onBundleChange(() => this.rootsChanged()));
    if (!webhook || !this.serving) return;
    // Fails the start when the CA cannot issue: a webhook without a certificate serves nothing.
    const tls = this.serving.renew('initial');
    this.server = await startInjectionWebhook({
      port: webhook.port,
      ...(webhook.host ? { host: webhook.host } : {}),
      tls,
      options: webhook.inject,
      log: this.log,
    });
    const server = this.server;
    this.unsubscribe.push(this.serving.onRenew((renewed) => server.updateTls(renewed)));
    this.every(webhook.certCheckMs ?? 30_000, () => this.serving?.check());
    this.every(webhook.caBundleCheckMs ?? 30_000, () => {
      if (this.options.isLeader()) this.syncCaBundle();
    });
  }

  /** Ready when the webhook (if hosted) listens with its certificate. */
  readiness(): string[] {
    if (!this.options.webhook) return [];
    return this.server && this.serving?.tls ? [] : ['the injection webhook has no serving certificate yet'];
  }

  get webhookPort(): number | undefined {
    return this.server?.port;
  }

  get servingCertificate(): X509Certificate | undefined {
    return this.serving?.certificate;
  }

  /** Issues a new serving certificate now and swaps it into the running listener. */
  renewServingCertificate(): void {
    if (!this.serving) throw new TypeError('the injection webhook is not hosted');
    this.serving.renew('forced');
  }

  /** The leader writes from now on: bring everything it owns up to date. */
  startedLeading(): void {
    this.syncCaBundle();
    this.enqueueAllRoots();
    this.pods.resync();
  }

  podChanged(key: string): void {
    this.pods.podChanged(key);
  }

  namespaceChanged(name: string): void {
    this.pods.namespaceChanged(name);
    if (this.wantsRoots(name)) this.rootsQueue.add(name);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    await Promise.all([this.rootsQueue.shutdown(), this.pods.stop(), this.server?.close()]);
  }

  private rootsChanged(): void {
    // A new root joins the bundle long before it signs; the serving certificate follows the
    // signer (checked here and by the timer), the caBundle and ConfigMaps follow the bundle.
    this.serving?.check();
    if (!this.options.isLeader()) return;
    this.syncCaBundle();
    this.enqueueAllRoots();
  }

  private wantsRoots(namespace: string): boolean {
    return namespace === this.options.namespace || isInjected(this.options.cache.namespace(namespace));
  }

  private enqueueAllRoots(): void {
    this.rootsQueue.add(this.options.namespace);
    for (const namespace of this.options.cache.namespaceList()) {
      const name = namespace.metadata?.name;
      if (name && isInjected(namespace)) this.rootsQueue.add(name);
    }
  }

  private syncCaBundle(): void {
    const code: InjectErrorCode = 'ERR_WEBHOOK_CONFIG_PATCH_FAILED';
    this.patcher
      ?.sync()
      .catch((error: unknown) =>
        this.log.warn(
          { code, err: String(error) },
          'could not update the caBundle of the webhook configuration; retrying',
        ),
      );
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private async warnUnmanaged(core: CoreV1Api, namespace: string, configMap: V1ConfigMap): Promise<void> {
    const now = new Date();
    await core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${ROOTS_CONFIGMAP}.`, namespace },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace,
          name: ROOTS_CONFIGMAP,
          ...(configMap.metadata?.uid ? { uid: configMap.metadata.uid } : {}),
        },
        type: 'Warning',
        reason: 'RootsConfigMapNotManaged',
        message: `${ROOTS_CONFIGMAP} exists without app.kubernetes.io/managed-by=lanyard: Lanyard leaves it alone and does not keep its roots current`,
        source: { component: 'lanyard-controller' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}
