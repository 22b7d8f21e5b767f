// Pods that should carry the sidecar but run without it: created while the webhook was absent,
// unreachable under failurePolicy Ignore, or before their namespace was labelled. The decision
// is pure (pod + namespace + options); the reconciler around it reports each such pod once with
// a Kubernetes Event, counts them in a gauge and, when enabled, evicts them through the
// Eviction API so that PodDisruptionBudgets are honoured and their controller recreates them.
import { CoreV1Api, type KubeConfig, type V1Namespace, type V1Pod } from '@kubernetes/client-node';
import { Gauge, type Registry } from 'prom-client';
import { apiStatus } from '../../kube/api-errors.ts';
import { WorkQueue } from '../../kube/workqueue.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { InjectErrorCode } from './errors.ts';
import { INJECT_LABEL, SIDECAR_CONTAINER, SKIPPED_ANNOTATION } from './injector.ts';

export interface SidecarCheckOptions {
  /** Never injected (the webhook configuration excludes it). */
  controlPlaneNamespace: string;
}

export type SidecarVerdict =
  | { missing: true; message: string }
  | {
      missing: false;
      reason:
        | 'has-sidecar'
        | 'not-selected'
        | 'opted-out'
        | 'host-network'
        | 'control-plane'
        | 'finished'
        | 'skipped';
    };

const isEnabled = (labels: Record<string, string> | undefined) => labels?.[INJECT_LABEL] === 'enabled';

/** Whether a pod runs without the sidecar it should have, by the rules the webhook selects by. */
export function checkPodSidecar(
  pod: V1Pod,
  namespace: V1Namespace | undefined,
  options: SidecarCheckOptions,
): SidecarVerdict {
  const labels = pod.metadata?.labels;
  if (pod.metadata?.namespace === options.controlPlaneNamespace)
    return { missing: false, reason: 'control-plane' };
  const phase = pod.status?.phase;
  // A namespace being deleted takes its pods with it (and refuses new Events).
  const ending = namespace?.metadata?.deletionTimestamp || namespace?.status?.phase === 'Terminating';
  if (ending || pod.metadata?.deletionTimestamp || phase === 'Succeeded' || phase === 'Failed') {
    return { missing: false, reason: 'finished' };
  }
  if (labels?.[INJECT_LABEL] === 'disabled') return { missing: false, reason: 'opted-out' };
  const namespaceSelected = isEnabled(namespace?.metadata?.labels);
  if (!namespaceSelected && !isEnabled(labels)) return { missing: false, reason: 'not-selected' };
  if (pod.spec?.hostNetwork) return { missing: false, reason: 'host-network' };
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (containers.some((container) => container.name === SIDECAR_CONTAINER)) {
    return { missing: false, reason: 'has-sidecar' };
  }
  // The injector saw this pod and chose not to inject (it said why in the annotation).
  if (pod.metadata?.annotations?.[SKIPPED_ANNOTATION]) return { missing: false, reason: 'skipped' };
  const why = namespaceSelected
    ? `namespace ${pod.metadata?.namespace} is labelled ${INJECT_LABEL}=enabled`
    : `the pod is labelled ${INJECT_LABEL}=enabled`;
  return {
    missing: true,
    message: `${why} but the pod runs without the ${SIDECAR_CONTAINER} sidecar: it was created while the injection webhook was not called (absent, unreachable with failurePolicy Ignore, or the label came later); recreate it to inject it`,
  };
}

/**
 * Only a pod that its controller will recreate is evicted: evicting a bare pod would delete
 * the workload for good.
 */
export function isRecreatable(pod: V1Pod): boolean {
  return (pod.metadata?.ownerReferences ?? []).some((owner) => owner.controller === true);
}

/** A name for the pod's one PodWithoutSidecar Event: creating it twice conflicts. */
export function eventName(pod: V1Pod): string {
  return `${(pod.metadata?.name ?? '').slice(0, 200)}.lanyard-no-sidecar.${(pod.metadata?.uid ?? '').slice(0, 8)}`;
}

/** The calls the reconciler makes; tests may put a fake behind it. */
export interface PodReportClient {
  /** Creates the pod's Event; false if it already exists. */
  createEvent(pod: V1Pod, message: string): Promise<boolean>;
  /** Evicts the pod; 'refused' when a PodDisruptionBudget (or the API server) says not now. */
  evict(pod: V1Pod): Promise<'evicted' | 'gone' | 'refused'>;
}

export function kubePodReportClient(kc: KubeConfig): PodReportClient {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    async createEvent(pod, message) {
      const namespace = pod.metadata!.namespace!;
      const now = new Date();
      try {
        await api.createNamespacedEvent({
          namespace,
          body: {
            metadata: { name: eventName(pod), namespace },
            involvedObject: {
              apiVersion: 'v1',
              kind: 'Pod',
              namespace,
              name: pod.metadata!.name!,
              uid: pod.metadata!.uid!,
            },
            type: 'Warning',
            reason: 'PodWithoutSidecar',
            message,
            source: { component: 'lanyard-controller' },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
        return true;
      } catch (error) {
        if (apiStatus(error) === 409) return false;
        throw error;
      }
    },
    async evict(pod) {
      const { name, namespace, uid } = pod.metadata!;
      try {
        await api.createNamespacedPodEviction({
          name: name!,
          namespace: namespace!,
          // The precondition keeps a pod recreated under the same name from being evicted.
          body: { metadata: { name, namespace }, deleteOptions: { preconditions: { uid: uid! } } },
        });
        return 'evicted';
      } catch (error) {
        const status = apiStatus(error);
        if (status === 404 || status === 409) return 'gone';
        if (status === 429) return 'refused';
        throw error;
      }
    },
  };
}

export interface PodsWithoutSidecarOptions {
  client: PodReportClient;
  pod: (key: string) => V1Pod | undefined;
  pods: () => readonly V1Pod[];
  namespace: (name: string) => V1Namespace | undefined;
  check: SidecarCheckOptions;
  /** Events and evictions are the leader's; every replica keeps the gauge. */
  isLeader: () => boolean;
  evict: boolean;
  registry: Registry;
  log?: Logger;
  /** Delay before retrying a refused eviction; default 30 s. */
  evictionRetryMs?: number;
}

export class PodsWithoutSidecar {
  private readonly queue: WorkQueue;
  /** The pods found without a sidecar, by key. */
  private readonly missing = new Map<string, { namespace: string; uid: string }>();
  /** Pod UIDs reported by this replica (the Event name stops repeats across replicas). */
  private readonly reported = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly log: Logger;

  constructor(private readonly options: PodsWithoutSidecarOptions) {
    this.log = options.log ?? silentLogger;
    this.queue = new WorkQueue({
      name: 'pods-without-sidecar',
      reconcile: (key) => this.reconcile(key),
      log: this.log,
    });
    const missing = this.missing;
    new Gauge({
      name: 'lanyard_pods_without_sidecar',
      help: 'Pods that should carry the Lanyard sidecar but run without it, by namespace.',
      labelNames: ['namespace'],
      registers: [options.registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const { namespace } of missing.values()) counts.set(namespace, (counts.get(namespace) ?? 0) + 1);
        for (const [namespace, count] of counts) this.set({ namespace }, count);
      },
    });
  }

  /** How many pods run without their sidecar now. */
  get count(): number {
    return this.missing.size;
  }

  podChanged(key: string): void {
    this.queue.add(key);
  }

  namespaceChanged(name: string): void {
    for (const pod of this.options.pods()) {
      if (pod.metadata?.namespace === name && pod.metadata.name)
        this.queue.add(`${name}/${pod.metadata.name}`);
    }
  }

  /** Looks at every pod again, e.g. when this replica becomes the leader. */
  resync(): void {
    for (const pod of this.options.pods()) {
      if (pod.metadata?.namespace && pod.metadata.name)
        this.queue.add(`${pod.metadata.namespace}/${pod.metadata.name}`);
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.retryTimers) clearTimeout(timer);
    await this.queue.shutdown();
  }

  private async reconcile(key: string): Promise<void> {
    const pod = this.options.pod(key);
    const namespace = key.slice(0, key.indexOf('/'));
    const verdict = pod
      ? checkPodSidecar(pod, this.options.namespace(namespace), this.options.check)
      : ({ missing: false, reason: 'finished' } as const);
    const uid = pod?.metadata?.uid ?? '';
    const previous = this.missing.get(key);
    if (previous && previous.uid !== uid) this.reported.delete(previous.uid);
    if (!verdict.missing || !pod) {
      this.missing.delete(key);
      this.reported.delete(uid);
      return;
    }
    this.missing.set(key, { namespace, uid });
    if (!this.options.isLeader()) return;
    if (!this.reported.has(uid)) {
      const created = await this.options.client.createEvent(pod, verdict.message);
      this.reported.add(uid);
      if (created) {
        const code: InjectErrorCode = 'ERR_POD_WITHOUT_SIDECAR';
        this.log.warn({ code, pod: key }, verdict.message);
      }
    }
    if (!this.options.evict) return;
    if (!isRecreatable(pod)) {
      this.log.info({ pod: key }, 'a pod without a sidecar has no controller to recreate it: not evicted');
      return;
    }
    const outcome = await this.options.client.evict(pod);
    if (outcome === 'refused') {
      const code: InjectErrorCode = 'ERR_EVICTION_REFUSED';
      this.log.warn({ code, pod: key }, 'eviction of a pod without a sidecar refused; retrying later');
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.queue.add(key);
      }, this.options.evictionRetryMs ?? 30_000);
      this.retryTimers.add(timer);
      return;
    }
    if (outcome === 'evicted') this.log.info({ pod: key }, 'evicted a pod without a sidecar');
  }
}
