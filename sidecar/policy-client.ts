// The sidecar's end of the policy stream: say which pod it serves, compile every snapshot with
// the same pure compiler as the control plane, ACK what it enforces and NACK what it cannot
// (keeping the previous snapshot), and keep enforcing the last snapshot while disconnected,
// reconnecting with backoff.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { Backoff } from '../lib/backoff.ts';
import { compileSnapshot, type PolicySnapshot } from '../lib/distribution/snapshot.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { WorkloadPolicy } from '../lib/policy/index.ts';
import { loadPolicyProto, type PolicySnapshotMessage } from '../proto/load-policy.ts';
import type { WatchRequest } from '../proto/generated/lanyard/policy/v1/WatchRequest.ts';
import { controlPlaneClient, type ControlPlaneTarget } from './control-plane-credentials.ts';
import { StreamKeeper } from './control-plane-stream.ts';

export interface PolicyClientOptions extends ControlPlaneTarget {
  podName: string;
  onPolicy: (policy: WorkloadPolicy, version: string) => void;
  backoff?: Backoff;
  log?: Logger;
}

export class PolicyClient {
  private readonly keeper: StreamKeeper<ClientDuplexStream<WatchRequest, PolicySnapshotMessage>>;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  /** The version being enforced, if any. */
  version: string | undefined;

  constructor(private readonly options: PolicyClientOptions) {
    this.backoff = options.backoff ?? new Backoff(200, 15_000);
    this.log = options.log ?? silentLogger;
    this.keeper = new StreamKeeper({
      open: () => {
        const client = controlPlaneClient(loadPolicyProto().PolicyService, this.options);
        return { stream: client.Watch(), closeChannel: () => client.close() };
      },
      opened: (stream) => {
        stream.write({ hello: { podName: this.options.podName } });
        stream.on('data', (message: PolicySnapshotMessage) => this.receive(stream, message));
      },
      lost: (reason, retryInMs) =>
        this.log.warn(
          { reason, retryInMs, enforcing: this.version },
          'policy stream lost; keeping the last snapshot',
        ),
      backoff: this.backoff,
    });
  }

  start(): void {
    this.keeper.start();
  }

  /** Reconnects with the current TLS material (after an SVID rotation). */
  reconnect(): void {
    this.keeper.reopen();
  }

  stop(): void {
    this.keeper.stop();
  }

  private receive(
    stream: ClientDuplexStream<WatchRequest, PolicySnapshotMessage>,
    message: PolicySnapshotMessage,
  ): void {
    this.backoff.reset();
    let snapshot: PolicySnapshot;
    try {
      snapshot = JSON.parse(message.snapshotJson) as PolicySnapshot;
    } catch {
      stream.write({ nack: { version: message.version, error: 'snapshot is not JSON' } });
      return;
    }
    const workload = { namespace: message.workloadNamespace, labels: message.workloadLabels };
    const compiled = compileSnapshot(snapshot, workload);
    if (!compiled.ok) {
      this.log.error({ version: message.version, error: compiled.error }, 'refusing a policy snapshot');
      stream.write({ nack: { version: message.version, error: compiled.error } });
      return;
    }
    this.version = message.version;
    this.options.onPolicy(compiled.policy, message.version);
    stream.write({ ack: { version: message.version } });
  }
}
