// Detections as Kubernetes Events on the control plane's leader Lease. The Lease is the control
// plane's own object in its own namespace: it exists whenever a controller runs in a cluster,
// detections are mesh-wide (a principal, a user, a token, a source: no one pod owns them), and
// `kubectl get events -n <control plane namespace>` or `kubectl describe lease` shows them without
// writing into workload namespaces.
import type { CoreV1Api } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { Detection } from './detectors.ts';
import { describeDetection, EVENT_REASON } from './describe.ts';
import type { DetectionSink } from './responder.ts';

export interface LeaseEventOptions {
  core: Pick<CoreV1Api, 'createNamespacedEvent'>;
  namespace: string;
  leaseName: string;
  /** Event writes in flight at once; more are dropped and counted. Default 8. */
  maxInFlight?: number;
  log?: Logger;
}

export class LeaseEventSink implements DetectionSink {
  private inFlight = 0;
  readonly stats = { written: 0, failed: 0, dropped: 0 };
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: LeaseEventOptions) {}

  record(detection: Detection): void {
    if (this.inFlight >= (this.options.maxInFlight ?? 8)) {
      this.stats.dropped += 1;
      return;
    }
    this.inFlight += 1;
    const write = this.write(detection)
      .then(() => {
        this.stats.written += 1;
      })
      .catch((error: unknown) => {
        this.stats.failed += 1;
        (this.options.log ?? silentLogger).warn(
          { err: error instanceof Error ? error.message.slice(0, 256) : 'error', kind: detection.kind },
          'could not record a detection as a Kubernetes Event',
        );
      })
      .finally(() => {
        this.inFlight -= 1;
        this.pending.delete(write);
      });
    this.pending.add(write);
  }

  /** Resolves when every write started so far has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async write(detection: Detection): Promise<void> {
    const { namespace, leaseName } = this.options;
    const now = new Date();
    await this.options.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${leaseName}.`, namespace },
        involvedObject: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace, name: leaseName },
        type: 'Warning',
        reason: EVENT_REASON[detection.kind],
        message: describeDetection(detection),
        source: { component: 'lanyard-monitor' },
        firstTimestamp: new Date(detection.firstMs),
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}
