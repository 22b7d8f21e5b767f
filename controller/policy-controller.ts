// The AuthPolicy controller: informers for AuthPolicies, Pods and Namespaces feed a compiled
// cluster view (debounced), which is published to the policy stream and reconciled into each
// policy's status. Every replica compiles and publishes; only the leader writes status and
// Events. Reconciles are level-based: they compare the desired status with the stored one.
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  type V1Namespace,
  type V1Pod,
} from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { LastGoodPolicies, type CompileOptions } from '../lib/policy/index.ts';
import type { AuthPolicyStatus } from '../lib/policy/types.generated.ts';
import { Informer } from '../kube/informer.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import { buildClusterView, isLivePod, type ClusterView } from './cluster-view.ts';
import type { WorkloadResolver } from './policy-stream.ts';
import { desiredStatus, statusDiffers, type Delivery } from './status.ts';

const GROUP = 'lanyard.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'authpolicies';

export interface AuthPolicyObject extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string; namespace: string };
  spec?: unknown;
  status?: AuthPolicyStatus;
}

export interface PolicyControllerOptions {
  kubeConfig: KubeConfig;
  compile: CompileOptions;
  /** Whether this replica may write (it holds the Lease). Read at each reconcile. */
  isLeader: () => boolean;
  /** Receives every new compiled view (the policy stream serves it). */
  onView?: (view: ClusterView) => void;
  /** Delivery of a policy to its selected sidecars, from the policy stream; undefined = none. */
  delivery?: (policyKey: string, generation: number) => Delivery | undefined;
  /** Coalesces bursts of changes before recompiling. Default 100 ms. */
  debounceMs?: number;
  /**
   * How often policies not yet Ready are reconciled again. An ACK changes no Kubernetes object,
   * so without this a policy whose sidecars ACK after its last reconcile would stay Pending
   * until the next relist. Only those policies are visited. Default 1 s.
   */
  readyRecheckMs?: number;
  /** Told the key of every Pod change (handlers only enqueue); other reconcilers share the cache. */
  onPodEvent?: (key: string) => void;
  /** Told the name of every Namespace change. */
  onNamespaceEvent?: (name: string) => void;
  log?: Logger;
  now?: () => Date;
}

export class PolicyController {
  private readonly policies: Informer<AuthPolicyObject>;
  private readonly pods: Informer<V1Pod>;
  private readonly namespaces: Informer<V1Namespace>;
  private readonly queue: WorkQueue;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly log: Logger;
  private view: ClusterView | undefined;
  private readonly lastGood = new LastGoodPolicies();
  private debounce: NodeJS.Timeout | undefined;
  private readyRecheck: NodeJS.Timeout | undefined;
  /** Policies whose last reconcile found them accepted but not Ready. */
  private readonly notReady = new Set<string>();
  private started = false;

  constructor(private readonly options: PolicyControllerOptions) {
    const kc = options.kubeConfig;
    this.log = options.log ?? silentLogger;
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    const changed = () => this.scheduleRebuild();
    this.policies = new Informer<AuthPolicyObject>({
      name: 'authpolicies',
      kubeConfig: kc,
      path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      list: () =>
        this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) as Promise<{
          items: AuthPolicyObject[];
          metadata?: { resourceVersion?: string };
        }>,
      onEvent: (event) => {
        // A status write comes back as an update; only spec changes (generation) need a rebuild,
        // but a rebuild is idempotent and cheap enough that correctness wins over cleverness.
        if (event.type !== 'deleted') this.queue.add(event.key);
        changed();
      },
      log: this.log,
    });
    this.pods = new Informer<V1Pod>({
      name: 'pods',
      kubeConfig: kc,
      path: '/api/v1/pods',
      list: () => this.core.listPodForAllNamespaces(),
      onEvent: (event) => {
        changed();
        this.options.onPodEvent?.(event.key);
      },
      log: this.log,
    });
    this.namespaces = new Informer<V1Namespace>({
      name: 'namespaces',
      kubeConfig: kc,
      path: '/api/v1/namespaces',
      list: () => this.core.listNamespace(),
      onEvent: (event) => {
        changed();
        this.options.onNamespaceEvent?.(event.key);
      },
      log: this.log,
    });
    this.queue = new WorkQueue({
      name: 'authpolicy-status',
      reconcile: (key) => this.reconcile(key),
      log: this.log,
    });
  }

  /** Starts the informers; resolves when all three have listed and the first view is built. */
  async start(): Promise<void> {
    if (this.started) throw new TypeError('policy controller already started');
    this.started = true;
    await Promise.all([this.policies.start(), this.pods.start(), this.namespaces.start()]);
    this.rebuild();
    this.readyRecheck = setInterval(() => {
      for (const key of this.notReady) this.queue.add(key);
    }, this.options.readyRecheckMs ?? 1000);
    this.readyRecheck.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.debounce);
    clearInterval(this.readyRecheck);
    await Promise.all([this.policies.stop(), this.pods.stop(), this.namespaces.stop()]);
    await this.queue.shutdown();
  }

  get current(): ClusterView | undefined {
    return this.view;
  }

  /** The cached Pod of a "namespace/name" key, for reconcilers that share this cache. */
  pod(key: string): V1Pod | undefined {
    return this.pods.get(key);
  }

  podList(): V1Pod[] {
    return this.pods.list();
  }

  namespace(name: string): V1Namespace | undefined {
    return this.namespaces.get(name);
  }

  namespaceList(): V1Namespace[] {
    return this.namespaces.list();
  }

  /** Finds the pod a policy-stream caller runs in: it must run as the caller's ServiceAccount. */
  readonly resolver: WorkloadResolver = {
    resolve: (identity, podName) => {
      const pod = this.pods.get(`${identity.namespace}/${podName}`);
      if (!pod || !isLivePod(pod)) return undefined;
      if ((pod.spec?.serviceAccountName ?? 'default') !== identity.serviceAccount) return undefined;
      return { namespace: identity.namespace, labels: pod.metadata?.labels ?? {} };
    },
  };

  /** Re-reconciles every policy, e.g. when this replica becomes the leader or deliveries change. */
  resync(): void {
    for (const policy of this.policies.list())
      this.queue.add(`${policy.metadata.namespace}/${policy.metadata.name}`);
  }

  private scheduleRebuild(): void {
    if (!this.started || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.rebuild();
    }, this.options.debounceMs ?? 100);
  }

  private rebuild(): void {
    const view = buildClusterView(
      this.policies.list(),
      this.pods.list(),
      this.options.compile,
      this.lastGood,
    );
    this.view = view;
    this.options.onView?.(view);
    this.resync();
  }

  private async reconcile(key: string): Promise<void> {
    if (!this.options.isLeader() || !this.view) return;
    const policy = this.policies.get(key);
    if (!policy) {
      this.notReady.delete(key);
      return;
    }
    const result = this.view.results.get(key);
    if (!result) {
      // Newer than the view: the pending rebuild will enqueue it again.
      this.scheduleRebuild();
      return;
    }
    const generation = policy.metadata.generation ?? 0;
    const desired = desiredStatus({
      generation,
      result,
      selectedWorkloads: this.view.selectedWorkloads.get(key) ?? 0,
      delivery: this.options.delivery?.(key, generation),
      retained: this.view.retained.has(key),
      previous: policy.status,
      now: (this.options.now?.() ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    const ready = desired.conditions?.find((c) => c.type === 'Ready')?.status;
    if (result.accepted && ready !== 'True') this.notReady.add(key);
    else this.notReady.delete(key);
    if (!statusDiffers(policy.status, desired)) return;
    const { namespace, name } = policy.metadata;
    // A replace carries the resourceVersion: a concurrent change fails with 409 and is retried
    // against the newer object, never overwritten.
    await this.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      name,
      body: { ...policy, status: desired },
    });
    const wasAccepted = policy.status?.conditions?.find((c) => c.type === 'Accepted')?.status;
    const accepted = desired.conditions?.find((c) => c.type === 'Accepted');
    if (accepted?.status === 'False' && wasAccepted !== 'False')
      await this.recordRejection(policy, accepted.message);
    this.log.info({ policy: key, accepted: accepted?.status, generation }, 'status written');
  }

  private async recordRejection(policy: AuthPolicyObject, message: string): Promise<void> {
    const { namespace, name, uid } = policy.metadata;
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'AuthPolicy',
            namespace,
            name,
            uid,
          },
          type: 'Warning',
          reason: 'PolicyRejected',
          message,
          source: { component: 'lanyard-controller' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      // An Event is a notice; failing to write one must not fail the status reconcile.
      this.log.warn(
        { policy: `${namespace}/${name}`, err: String(error) },
        'could not record a rejection Event',
      );
    }
  }
}
