// One long-lived stream to the control plane, kept open: opened with the current SVID, opened
// again after a loss (with backoff) and on demand after an SVID rotation. The policy and block
// clients differ only in what they do with their stream.
import type { Backoff } from '../lib/backoff.ts';

/** What the keeper needs of a gRPC stream. */
export interface KeptStream {
  cancel(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

export interface StreamKeeperOptions<S extends KeptStream> {
  /** Opens a channel with the current TLS material, and the stream on it. */
  open(): { stream: S; closeChannel: () => void };
  /** Sets up a stream just opened: its data listener, a first message. */
  opened(stream: S): void;
  /** The stream broke; the next attempt is in `retryInMs` (for the log line). */
  lost(reason: string, retryInMs: number): void;
  backoff: Backoff;
}

export class StreamKeeper<S extends KeptStream> {
  private stream: S | undefined;
  private closeChannel: (() => void) | undefined;
  private stopped = true;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly options: StreamKeeperOptions<S>) {}

  /** Whether `stream` is the one open now (a listener of an older stream ignores its events). */
  isCurrent(stream: S): boolean {
    return this.stream === stream;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  /** Opens a new stream now (after an SVID rotation), dropping the current one or a pending retry. */
  reopen(): void {
    this.close();
    clearTimeout(this.retry);
    if (!this.stopped) this.open();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.close();
  }

  private close(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.closeChannel?.();
    this.closeChannel = undefined;
  }

  private open(): void {
    const { stream, closeChannel } = this.options.open();
    this.stream = stream;
    this.closeChannel = closeChannel;
    const lost = (reason: string) => {
      if (this.stream !== stream) return;
      this.close();
      if (this.stopped) return;
      const delay = this.options.backoff.next();
      this.options.lost(reason, delay);
      this.retry = setTimeout(() => this.open(), delay);
    };
    stream.on('error', (error: Error) => lost(error.message));
    stream.on('end', () => lost('stream ended'));
    this.options.opened(stream);
  }
}
