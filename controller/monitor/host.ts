// The monitor as the control plane hosts it: the EventService to add to its gRPC server, the
// detectors and responder behind it, the block list, and metrics on the control plane's registry.
// Detections become Kubernetes Events on the leader Lease when a cluster is given, and blocks
// are shared with the other replicas through AuthBlock objects (block-store.ts).
import type { X509Certificate } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { KubeBlockStore } from './block-store.ts';
import { BlockList } from './blocks.ts';
import type { CountryResolver } from './country.ts';
import {
  resolveDetectorConfig,
  type Detection,
  type DetectionKind,
  type DetectorConfig,
} from './detectors.ts';
import type { MonitorEvent } from './event.ts';
import { EventService } from './ingest.ts';
import { LeaseEventSink } from './kube-events.ts';
import { createMonitorMetrics } from './metrics.ts';
import { MonitorPipeline } from './pipeline.ts';
import { Responder } from './responder.ts';
import { WebhookNotifier, type WebhookOptions } from './webhook.ts';

export interface MonitorHostOptions {
  trustDomain: string;
  signers: () => readonly X509Certificate[];
  registry: Registry;
  clock: Clock;
  log: Logger;
  detectors?: Partial<DetectorConfig>;
  countries?: CountryResolver;
  /** Kubernetes Events on the control plane's Lease; blocks in AuthBlock objects of the namespace. */
  kube?: {
    kubeConfig: KubeConfig;
    namespace: string;
    leaseName: string;
    /** The leader deletes expired AuthBlock objects. */
    isLeader: () => boolean;
    /** How often the leader looks for expired AuthBlocks. Default 10 s. */
    blockCollectIntervalMs?: number;
  };
  /** Automatic blocks of the subjects of these detection kinds. Default: none. */
  autoBlock?: { ttlMs: number; kinds: readonly DetectionKind[] };
  webhook?: WebhookOptions;
}

/**
 * What an operator configures (controller/config.ts): detectors, automatic blocks, webhook, and
 * the receiver of identity-provider notices (served by the control plane's HTTP port).
 */
export type MonitorSettings = Pick<
  MonitorHostOptions,
  'detectors' | 'autoBlock' | 'webhook' | 'countries'
> & {
  /** Unset: no receiver. `token` is the bearer token the IdP sends: never log it. */
  idpNotices?: { token: string; ratePerSecond?: number };
};

export interface MonitorHost {
  service: EventService;
  blocks: BlockList;
  /** Set in a cluster: the AuthBlock objects that `blocks` mirrors. */
  blockStore?: KubeBlockStore;
  responder: Responder;
  /** Counts a detection made outside the detectors (an identity-provider notice) and responds. */
  respond(detection: Detection): void;
  /** Called with every accepted event as the pipeline processes it. */
  onEvent(listener: (event: MonitorEvent) => void): () => void;
  close(): Promise<void>;
}

export function createMonitorHost(options: MonitorHostOptions): MonitorHost {
  const blocks = new BlockList({ clock: options.clock });
  const blockStore =
    options.kube &&
    new KubeBlockStore({
      kubeConfig: options.kube.kubeConfig,
      namespace: options.kube.namespace,
      blocks,
      clock: options.clock,
      isLeader: options.kube.isLeader,
      registry: options.registry,
      log: options.log,
      ...(options.kube.blockCollectIntervalMs && { collectIntervalMs: options.kube.blockCollectIntervalMs }),
    });
  const webhook = options.webhook && new WebhookNotifier({ log: options.log, ...options.webhook });
  const responder = new Responder({
    log: options.log,
    ...(options.kube && {
      events: new LeaseEventSink({
        core: options.kube.kubeConfig.makeApiClient(CoreV1Api),
        namespace: options.kube.namespace,
        leaseName: options.kube.leaseName,
        log: options.log,
      }),
    }),
    ...(webhook && { webhook }),
    ...(options.autoBlock && { autoBlock: { blocks: blockStore ?? blocks, ...options.autoBlock } }),
  });
  const metrics = createMonitorMetrics(options.registry, {
    // Read at scrape time, once the service exists.
    queued: () => service.queuedEvents,
    streams: () => service.connected,
  });
  const pipeline = new MonitorPipeline({
    detectors: resolveDetectorConfig(options.detectors),
    responder,
    metrics,
    clock: options.clock,
    ...(options.countries && { countries: options.countries }),
  });
  const service = new EventService({
    trustDomain: options.trustDomain,
    signers: options.signers,
    process: (event) => pipeline.process(event),
    clock: options.clock,
    metrics,
    log: options.log,
  });
  // Publish expiries as they happen, so that listeners see a block go when its TTL ends.
  let expiry: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearTimeout(expiry);
    const next = blocks.nextExpiry();
    if (next === undefined) return;
    expiry = setTimeout(
      () => blocks.expire(options.clock.now()),
      Math.max(0, next - options.clock.now()) + 5,
    );
    expiry.unref();
  };
  blocks.onChange(schedule);
  // The informer retries on its own; until its first list, this replica enforces what it made.
  void blockStore?.start();
  return {
    service,
    blocks,
    ...(blockStore && { blockStore }),
    responder,
    respond(detection) {
      metrics.detection(detection.kind);
      responder.respond(detection);
    },
    onEvent: (listener) => pipeline.onEvent(listener),
    async close() {
      clearTimeout(expiry);
      await blockStore?.stop();
      pipeline.close();
      await webhook?.close();
    },
  };
}
