// The event service (lanyard.events.v1.EventService/Report). The caller is the workload whose
// X.509-SVID verifies against the CA's signers; every event it sends is attributed to that
// identity, whatever the event says. Events wait in a bounded queue per stream and a bounded
// global count; a drain takes a few from each stream in turn and yields to the event loop
// between rounds, so one sidecar's flood cannot starve the others or the control plane's
// other work. What does not fit is dropped and counted.
import type { X509Certificate } from 'node:crypto';
import {
  status,
  type ServerDuplexStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { loadEventsProto, type BatchAckMessage, type EventBatchReceived } from '../../proto/load-events.ts';
import type { MonitorErrorCode } from './errors.ts';
import { DEFAULT_EVENT_LIMITS, validateBatch, type EventLimits, type MonitorEvent } from './event.ts';
import { workloadCaller } from './stream-caller.ts';
import type { MonitorMetrics } from './metrics.ts';

export interface EventServiceOptions {
  trustDomain: string;
  /** The certificates that sign workload SVIDs (as for the policy stream). */
  signers: () => readonly X509Certificate[];
  /** Receives accepted events in order per stream, off the gRPC callbacks. */
  process: (event: MonitorEvent) => void;
  clock?: Clock;
  limits?: EventLimits;
  /** Most concurrent streams; more are refused with RESOURCE_EXHAUSTED. Default 10 000. */
  maxStreams?: number;
  /** Events queued per stream. Default 2 000. */
  maxStreamQueue?: number;
  /** Events queued across all streams. Default 20 000. */
  maxGlobalQueue?: number;
  /** Events taken from one stream per round of the drain. Default 50. */
  quantum?: number;
  /** Events processed before the drain yields to the event loop. Default 500. */
  perTick?: number;
  metrics?: MonitorMetrics;
  log?: Logger;
}

interface Stream {
  reporter: string;
  queue: MonitorEvent[];
  open: boolean;
}

type Call = ServerDuplexStream<EventBatchReceived, BatchAckMessage>;

export class EventService {
  readonly definition: ServiceDefinition;
  private readonly streams = new Set<Stream>();
  private queued = 0;
  private open = 0;
  private draining = false;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Totals since start, for tests and status. */
  readonly stats = { accepted: 0, rejected: 0, dropped: 0, processed: 0 };

  constructor(private readonly options: EventServiceOptions) {
    this.definition = loadEventsProto().EventService.service;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock ?? systemClock;
  }

  get connected(): number {
    return this.open;
  }

  get queuedEvents(): number {
    return this.queued;
  }

  implementation(): UntypedServiceImplementation {
    return { Report: (call: Call) => this.report(call) };
  }

  private report(call: Call): void {
    const refuse = (code: status, details: string, errorCode: MonitorErrorCode) => {
      this.log.warn({ code: errorCode, grpcCode: code }, details);
      call.emit('error', { code, details });
    };
    const reporter = workloadCaller(call, {
      trustDomain: this.options.trustDomain,
      signers: this.options.signers,
      now: this.clock.now(),
    });
    if (!reporter) {
      return refuse(
        status.UNAUTHENTICATED,
        'a valid workload SVID is required',
        'ERR_MONITOR_UNAUTHENTICATED',
      );
    }
    if (this.open >= (this.options.maxStreams ?? 10_000)) {
      return refuse(status.RESOURCE_EXHAUSTED, 'too many event streams', 'ERR_MONITOR_OVERLOADED');
    }
    const stream: Stream = { reporter, queue: [], open: true };
    this.streams.add(stream);
    this.open += 1;
    // Events already queued are still processed; the drain forgets a closed stream once empty.
    const close = () => {
      if (!stream.open) return;
      stream.open = false;
      this.open -= 1;
      if (stream.queue.length === 0) this.streams.delete(stream);
    };
    call.on('cancelled', close);
    call.on('error', close);
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('data', (batch: EventBatchReceived) => {
      if (stream.open) call.write(this.accept(stream, batch));
    });
  }

  private accept(stream: Stream, batch: EventBatchReceived): BatchAckMessage {
    const metrics = this.options.metrics;
    metrics?.dropped('sidecar', Math.min(batch.droppedBeforeSend, 1_000_000));
    const verdict = validateBatch(
      batch.events,
      stream.reporter,
      this.clock.now(),
      this.options.limits ?? DEFAULT_EVENT_LIMITS,
    );
    if (verdict.rejectedCount > 0) {
      metrics?.rejected(verdict.rejected);
      this.log.debug(
        {
          code: 'ERR_MONITOR_EVENT_INVALID',
          reporter: stream.reporter,
          rejected: Object.fromEntries(verdict.rejected),
        },
        'dropped malformed decision events',
      );
    }
    const maxStream = this.options.maxStreamQueue ?? 2000;
    const maxGlobal = this.options.maxGlobalQueue ?? 20_000;
    let accepted = 0;
    let droppedStream = 0;
    let droppedGlobal = 0;
    for (const event of verdict.events) {
      if (stream.queue.length >= maxStream) droppedStream += 1;
      else if (this.queued >= maxGlobal) droppedGlobal += 1;
      else {
        stream.queue.push(event);
        this.queued += 1;
        accepted += 1;
      }
    }
    metrics?.dropped('stream', droppedStream);
    metrics?.dropped('global', droppedGlobal);
    this.stats.accepted += accepted;
    this.stats.rejected += verdict.rejectedCount;
    this.stats.dropped += droppedStream + droppedGlobal;
    if (accepted > 0) this.scheduleDrain();
    return {
      sequence: batch.sequence,
      accepted,
      rejected: verdict.rejectedCount,
      dropped: droppedStream + droppedGlobal,
    };
  }

  private scheduleDrain(): void {
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    const quantum = this.options.quantum ?? 50;
    let budget = this.options.perTick ?? 500;
    while (budget > 0 && this.queued > 0) {
      for (const stream of this.streams) {
        const take = stream.queue.splice(0, Math.min(quantum, budget));
        this.queued -= take.length;
        budget -= take.length;
        for (const event of take) {
          try {
            this.options.metrics?.event(event);
            this.options.process(event);
          } catch (error) {
            this.log.error(
              { err: error instanceof Error ? error.message : String(error) },
              'monitor failed on an event',
            );
          }
        }
        this.stats.processed += take.length;
        if (stream.queue.length === 0 && !stream.open) this.streams.delete(stream);
        if (budget <= 0) break;
      }
    }
    this.draining = false;
    if (this.queued > 0) this.scheduleDrain();
  }
}
