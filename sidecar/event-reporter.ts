// The sidecar's end of the decision event stream: each DecisionRecord becomes an event in a
// bounded buffer (full: dropped and counted, the count sent with the next batch), and a timer
// sends batches over one long-lived mTLS stream, reconnecting with backoff. `record` never
// waits on the network, so reporting never delays a request.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { Backoff } from '../lib/backoff.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import {
  loadEventsProto,
  type BatchAckReceived,
  type DecisionEventMessage,
  type EventBatchMessage,
} from '../proto/load-events.ts';
import type { DecisionRecord } from './app-forwarder.ts';
import { controlPlaneClient, type ControlPlaneTarget } from './control-plane-credentials.ts';
import { tokenFailureOfReason } from './token-facts.ts';

export { tokenId } from './token-facts.ts';

export interface EventReporterOptions extends ControlPlaneTarget {
  /** Events kept while waiting to be sent; more are dropped and counted. Default 5 000. */
  maxBuffer?: number;
  /** Most events per batch (the server refuses more than 500). Default 200. */
  batchSize?: number;
  /** How often the buffer is sent. Default 1 s. */
  flushEveryMs?: number;
  backoff?: Backoff;
  clock?: Clock;
  log?: Logger;
}

/** Overrides of what the record carries (its source and token facts). */
export interface DecisionContext {
  /** The caller's address as the socket saw it. */
  source?: string;
  /** From tokenId(): never the token. */
  tokenId?: string;
  issuer?: string;
}

/** The deciding "policy" of an event for a request a block refused; its rule is the block id. */
export const BLOCK_POLICY = 'lanyard-block';

/** The wire event of one decision. */
export function toEvent(
  record: DecisionRecord,
  context: DecisionContext,
  timeMs: number,
): DecisionEventMessage {
  const block = record.block;
  return {
    timeUnixMs: timeMs,
    peerId: record.peer ?? '',
    userSubject: record.user ?? '',
    userIssuer: context.issuer ?? record.issuer ?? '',
    tokenId: context.tokenId ?? record.tokenId ?? '',
    method: record.method,
    path: record.path,
    decision: record.decision,
    reason: record.reason,
    policy: block ? BLOCK_POLICY : (record.policy ?? ''),
    rule: block ? block.id : (record.rule ?? ''),
    sourceAddress: context.source ?? record.source ?? '',
    latencyMs: record.latencyMs,
    httpStatus: record.status,
    tokenFailure: record.tokenFailure ?? tokenFailureOfReason(record.reason) ?? 'TOKEN_FAILURE_UNSPECIFIED',
  };
}

export class EventReporter {
  private readonly buffer: DecisionEventMessage[] = [];
  private dropped = 0;
  private sequence = 0;
  private stream: ClientDuplexStream<EventBatchMessage, BatchAckReceived> | undefined;
  private closeClient: (() => void) | undefined;
  private writable = false;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Totals: events sent, dropped here, and what the server's Acks said. */
  readonly stats = { sent: 0, dropped: 0, accepted: 0, rejected: 0, droppedByServer: 0 };

  constructor(private readonly options: EventReporterOptions) {
    this.backoff = options.backoff ?? new Backoff(500, 30_000);
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
  }

  /** Buffers one decision; never throws, never waits. */
  record(record: DecisionRecord, context: DecisionContext = {}): void {
    if (this.buffer.length >= (this.options.maxBuffer ?? 5000)) {
      this.dropped += 1;
      this.stats.dropped += 1;
      return;
    }
    this.buffer.push(toEvent(record, context, this.clock.now()));
  }

  get buffered(): number {
    return this.buffer.length;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
    this.timer = setInterval(() => this.flush(), this.options.flushEveryMs ?? 1000);
    this.timer.unref();
  }

  /** Reconnects with the current TLS material (after an SVID rotation). */
  reconnect(): void {
    this.teardown();
    if (!this.stopped) this.connect();
  }

  /** Sends what is buffered if connected, then closes the stream. */
  stop(): void {
    if (this.stopped) return;
    this.flush();
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.stream?.end();
    this.stream = undefined;
    this.writable = false;
    const close = this.closeClient;
    this.closeClient = undefined;
    // Let the final batch leave before the channel closes.
    setTimeout(() => close?.(), 1000).unref();
  }

  /** Writes batches while the stream takes them; gRPC's write() says when to wait for 'drain'. */
  flush(): void {
    const size = Math.min(this.options.batchSize ?? 200, 500);
    while (this.stream && this.writable && (this.buffer.length > 0 || this.dropped > 0)) {
      const events = this.buffer.splice(0, size);
      this.sequence += 1;
      const batch: EventBatchMessage = { sequence: this.sequence, events, droppedBeforeSend: this.dropped };
      this.dropped = 0;
      this.stats.sent += events.length;
      this.writable = this.stream.write(batch);
    }
  }

  private teardown(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.writable = false;
    stream?.cancel();
    this.closeClient?.();
    this.closeClient = undefined;
  }

  private connect(): void {
    const client = controlPlaneClient(loadEventsProto().EventService, this.options);
    const close = () => client.close();
    this.closeClient = close;
    const retryLater = (reason: string) => {
      if (this.stopped) return;
      const delay = this.backoff.next();
      this.log.warn(
        { reason, retryInMs: delay, buffered: this.buffer.length },
        'event stream lost; buffering',
      );
      this.retry = setTimeout(() => this.connect(), delay);
    };
    // Events stay in the buffer until the channel is up: none are written into a doomed stream.
    client.waitForReady(Date.now() + 10_000, (error) => {
      if (this.closeClient !== close) return;
      if (error) {
        this.teardown();
        return retryLater(error.message);
      }
      this.open(client.Report(), retryLater);
    });
  }

  private open(
    stream: ClientDuplexStream<EventBatchMessage, BatchAckReceived>,
    retryLater: (reason: string) => void,
  ): void {
    this.stream = stream;
    this.writable = true;
    stream.on('data', (ack: BatchAckReceived) => {
      this.backoff.reset();
      this.stats.accepted += ack.accepted;
      this.stats.rejected += ack.rejected;
      this.stats.droppedByServer += ack.dropped;
    });
    stream.on('drain', () => {
      if (this.stream !== stream) return;
      this.writable = true;
      this.flush();
    });
    const lost = (reason: string) => {
      if (this.stream !== stream) return;
      this.teardown();
      retryLater(reason);
    };
    stream.on('error', (error: Error) => lost(error.message));
    stream.on('end', () => lost('stream ended'));
    this.flush();
  }
}
