// The sidecar's end of the block stream (lanyard.blocks.v1.BlockService/Watch): each snapshot
// that passes validation replaces the blocks in force; a bad one is refused (logged, counted)
// and the previous one stays. While the stream is down the last snapshot stays in force, each
// block until its own expiry: what is known is enforced, fail closed. Reconnects with backoff
// and full jitter, and on SVID rotation.
import type { ClientReadableStream } from '@grpc/grpc-js';
import { Backoff } from '../lib/backoff.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import {
  loadBlocksProto,
  MAX_BLOCK_SNAPSHOT_BYTES,
  type BlockSnapshotReceived,
} from '../proto/load-blocks.ts';
import { parseBlockSnapshot, type BlockSet, type SnapshotFault } from './block-set.ts';
import { controlPlaneClient, type ControlPlaneTarget } from './control-plane-credentials.ts';
import { StreamKeeper } from './control-plane-stream.ts';

export type SnapshotOutcome =
  { accepted: true; version: string; blocks: number } | { accepted: false; fault: SnapshotFault };

export interface BlockClientOptions extends ControlPlaneTarget {
  /** Where accepted snapshots go; the inbound pipeline reads it. */
  blocks: BlockSet;
  onSnapshot?: (outcome: SnapshotOutcome) => void;
  /** Above this difference between the control plane's clock and ours, warn (blocks end by ours). Default 5 s. */
  maxClockOffsetMs?: number;
  backoff?: Backoff;
  clock?: Clock;
  log?: Logger;
}

export class BlockClient {
  private readonly keeper: StreamKeeper<ClientReadableStream<BlockSnapshotReceived>>;
  /** The stream that delivered a snapshot, while it is the one open. */
  private delivered: ClientReadableStream<BlockSnapshotReceived> | undefined;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private readonly log: Logger;
  readonly stats = { accepted: 0, refused: 0, connects: 0 };

  constructor(private readonly options: BlockClientOptions) {
    this.backoff = options.backoff ?? new Backoff(200, 15_000);
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.keeper = new StreamKeeper({
      open: () => this.open(),
      opened: (stream) => this.listen(stream),
      lost: (reason, retryInMs) =>
        this.log.warn(
          { reason, retryInMs, enforcing: this.options.blocks.version },
          'block stream lost; keeping the last snapshot',
        ),
      backoff: this.backoff,
    });
  }

  /** Whether the stream is up and has delivered a snapshot (the blocks in force are current). */
  get connected(): boolean {
    return this.delivered !== undefined && this.keeper.isCurrent(this.delivered);
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

  private open() {
    const client = controlPlaneClient(loadBlocksProto().BlockService, this.options, {
      'grpc.max_receive_message_length': MAX_BLOCK_SNAPSHOT_BYTES,
      // The server speaks only on change: pings find a dead connection in a quiet stream.
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    this.stats.connects += 1;
    return { stream: client.Watch({}), closeChannel: () => client.close() };
  }

  private listen(stream: ClientReadableStream<BlockSnapshotReceived>): void {
    let clockChecked = false;
    stream.on('data', (message: BlockSnapshotReceived) => {
      if (!this.keeper.isCurrent(stream)) return;
      this.backoff.reset();
      this.delivered = stream;
      if (!clockChecked) {
        clockChecked = true;
        this.checkClock(message.sentUnixMs);
      }
      this.receive(message);
    });
  }

  private receive(message: BlockSnapshotReceived): void {
    const verdict = parseBlockSnapshot(message);
    if (!verdict.ok) {
      this.stats.refused += 1;
      this.log.error(
        { fault: verdict.fault, index: verdict.index, enforcing: this.options.blocks.version },
        'refusing a block snapshot; keeping the previous one',
      );
      this.options.onSnapshot?.({ accepted: false, fault: verdict.fault });
      return;
    }
    const { snapshot } = verdict;
    this.options.blocks.replace(snapshot);
    this.stats.accepted += 1;
    this.log.info({ version: snapshot.version, blocks: snapshot.blocks.length }, 'block snapshot loaded');
    this.options.onSnapshot?.({ accepted: true, version: snapshot.version, blocks: snapshot.blocks.length });
  }

  private checkClock(sentMs: number): void {
    if (!Number.isSafeInteger(sentMs) || sentMs <= 0) return;
    const offsetMs = sentMs - this.clock.now();
    if (Math.abs(offsetMs) > (this.options.maxClockOffsetMs ?? 5000)) {
      this.log.warn(
        { offsetMs },
        "the control plane's clock differs from this sidecar's; blocks end by this sidecar's clock",
      );
    }
  }
}
