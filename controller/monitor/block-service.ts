// The block stream (lanyard.blocks.v1.BlockService/Watch): every workload whose X.509-SVID
// verifies against the CA's signers gets the block list at once and again after each change.
// Bursts of changes are coalesced into one snapshot. A stream has at most one snapshot in
// flight; a change while it is busy only marks it, and it gets the latest snapshot once the
// write completes, so a slow reader never makes the control plane buffer a queue of them.
import type { X509Certificate } from 'node:crypto';
import {
  status,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import {
  BLOCK_TYPE,
  loadBlocksProto,
  type BlockSnapshotMessage,
  type WatchBlocksRequestReceived,
} from '../../proto/load-blocks.ts';
import type { BlockType as WireBlockType } from '../../proto/generated/lanyard/blocks/v1/BlockType.ts';
import type { BlockSnapshot, BlockType } from './blocks.ts';
import { workloadCaller } from './stream-caller.ts';
import type { MonitorErrorCode } from './errors.ts';

/** What the service reads: the block list (blocks.ts) or any store with the same two methods. */
export interface BlockSource {
  snapshot(): BlockSnapshot;
  onChange(listener: () => void): () => void;
}

export interface BlockServiceOptions {
  trustDomain: string;
  /** The certificates that sign workload SVIDs (as for the policy and event streams). */
  signers: () => readonly X509Certificate[];
  source: BlockSource;
  /** Changes within this window after the first go out as one snapshot. Default 75 ms. */
  coalesceMs?: number;
  /** Most concurrent streams; more are refused with RESOURCE_EXHAUSTED. Default 10 000. */
  maxStreams?: number;
  clock?: Clock;
  log?: Logger;
}

interface Subscriber {
  call: Call;
  /** The version last written to this stream. */
  sentVersion?: string;
  /** A write has not completed yet. */
  busy: boolean;
  /** A change arrived while busy: send the latest snapshot when the write completes. */
  behind: boolean;
}

type Call = ServerWritableStream<WatchBlocksRequestReceived, BlockSnapshotMessage>;

const WIRE_TYPE: Readonly<Record<BlockType, WireBlockType>> = Object.freeze({
  principal: BLOCK_TYPE.PRINCIPAL,
  user: BLOCK_TYPE.USER,
  token: BLOCK_TYPE.TOKEN,
});

/** The wire form of a snapshot: only what sidecars enforce (no reason, no author). */
export function toSnapshotMessage(snapshot: BlockSnapshot): BlockSnapshotMessage {
  return {
    version: snapshot.version,
    blocks: snapshot.blocks.map((block) => ({
      id: block.id,
      type: WIRE_TYPE[block.type],
      value: block.value,
      expiresUnixMs: block.expiresMs,
    })),
  };
}

export class BlockService {
  readonly definition: ServiceDefinition;
  private readonly subscribers = new Set<Subscriber>();
  /** The message of the current list; cleared by a change, built again on first use. */
  private latest: BlockSnapshotMessage | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Totals since start, for tests and status: snapshots built, and messages written. */
  readonly stats = { built: 0, sent: 0 };

  constructor(private readonly options: BlockServiceOptions) {
    this.definition = loadBlocksProto().BlockService.service;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.unsubscribe = options.source.onChange(() => this.changed());
  }

  get connected(): number {
    return this.subscribers.size;
  }

  implementation(): UntypedServiceImplementation {
    return { Watch: (call: Call) => this.watch(call) };
  }

  /** Stops listening to the source; the gRPC server ends the streams. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe();
    this.subscribers.clear();
  }

  private changed(): void {
    this.latest = undefined;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const subscriber of this.subscribers) this.deliver(subscriber);
    }, this.options.coalesceMs ?? 75);
    this.timer.unref();
  }

  private current(): BlockSnapshotMessage {
    if (!this.latest) {
      const message = toSnapshotMessage(this.options.source.snapshot());
      this.stats.built += 1;
      this.latest = message;
      return message;
    }
    return this.latest;
  }

  private deliver(subscriber: Subscriber): void {
    if (!this.subscribers.has(subscriber)) return;
    if (subscriber.busy) {
      subscriber.behind = true;
      return;
    }
    const message = this.current();
    if (message.version === subscriber.sentVersion) return;
    subscriber.busy = true;
    subscriber.sentVersion = message.version;
    this.stats.sent += 1;
    // The callback runs once the message has left for the transport (never on a failed write,
    // which ends the call).
    subscriber.call.write({ ...message, sentUnixMs: this.clock.now() }, () => {
      subscriber.busy = false;
      if (subscriber.behind) {
        subscriber.behind = false;
        this.deliver(subscriber);
      }
    });
  }

  private watch(call: Call): void {
    const refuse = (code: status, details: string, errorCode: MonitorErrorCode) => {
      this.log.warn({ code: errorCode, grpcCode: code }, details);
      call.emit('error', { code, details });
    };
    const caller = workloadCaller(call, {
      trustDomain: this.options.trustDomain,
      signers: this.options.signers,
      now: this.clock.now(),
    });
    if (!caller) {
      return refuse(
        status.UNAUTHENTICATED,
        'a valid workload SVID is required',
        'ERR_MONITOR_UNAUTHENTICATED',
      );
    }
    if (this.subscribers.size >= (this.options.maxStreams ?? 10_000)) {
      return refuse(status.RESOURCE_EXHAUSTED, 'too many block streams', 'ERR_MONITOR_OVERLOADED');
    }
    const subscriber: Subscriber = { call, busy: false, behind: false };
    this.subscribers.add(subscriber);
    const leave = () => this.subscribers.delete(subscriber);
    call.on('cancelled', leave);
    call.on('close', leave);
    call.on('error', leave);
    this.deliver(subscriber);
  }
}
