// Message bodies between two connections: a reader that takes body bytes off one connection's
// buffer only while its consumer wants them (that is the backpressure: the connection stops
// reading its socket), and a writer that frames them anew on the other connection.
import type { Socket } from 'node:net';
import type { HeaderList } from '../headers.ts';
import { ChunkedDecoder, lastChunk, type BodyFraming } from './codec.ts';
import { Http1Error } from './errors.ts';

export interface BodySink {
  /** Takes body bytes; false asks the source to pause until its resume(). */
  data(chunk: Buffer): boolean;
  /** The body is complete; trailers only come with a chunked body. */
  end(trailers: HeaderList): void;
  /** The body will never complete: the peer went away or broke the framing. */
  abort(error: Error): void;
}

/** A body arriving on a connection, read once by one sink. */
export interface IncomingBody {
  readonly framing: BodyFraming;
  read(sink: BodySink): void;
  resume(): void;
}

const NO_TRAILERS: HeaderList = [];
/** A body chunk up to this size is copied behind its head into one buffer, written at once. */
const COALESCE_MAX_BYTES = 16 * 1024;

/** Drives an IncomingBody from the buffer of the connection that owns it. */
export class BodyReader implements IncomingBody {
  private sink: BodySink | undefined;
  private paused = false;
  private remaining: number;
  private readonly decoder: ChunkedDecoder | undefined;
  private failure: Error | undefined;
  complete: boolean;

  constructor(
    readonly framing: BodyFraming,
    /** Asks the owning connection to feed buffered bytes (and read its socket) again. */
    private readonly pull: () => void,
  ) {
    this.remaining = framing.kind === 'length' ? framing.length : 0;
    this.decoder = framing.kind === 'chunked' ? new ChunkedDecoder() : undefined;
    this.complete = framing.kind === 'none';
  }

  read(sink: BodySink): void {
    if (this.sink) throw new TypeError('a body is read once');
    this.sink = sink;
    if (this.failure) return sink.abort(this.failure);
    if (this.complete) return sink.end(NO_TRAILERS);
    this.pull();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pull();
  }

  /** Whether the connection should hand over body bytes now. */
  get wants(): boolean {
    return this.sink !== undefined && !this.paused && !this.complete && this.failure === undefined;
  }

  /** Consumes body bytes from buffer[offset..]; returns the offset after them. Throws Http1Error. */
  consume(buffer: Buffer, offset: number): number {
    switch (this.framing.kind) {
      case 'length': {
        const take = Math.min(this.remaining, buffer.length - offset);
        this.remaining -= take;
        if (take > 0) this.deliver(buffer.subarray(offset, offset + take));
        if (this.remaining === 0) this.finish(NO_TRAILERS);
        return offset + take;
      }
      case 'chunked': {
        const end = this.decoder!.decode(buffer, offset, (chunk) => this.deliver(chunk));
        if (this.decoder!.done) this.finish(this.decoder!.trailers);
        return end;
      }
      case 'close':
        if (buffer.length > offset) this.deliver(buffer.subarray(offset));
        return buffer.length;
      case 'none':
        return offset;
    }
  }

  /** The connection ended: the end of a close-delimited body, a truncation of any other. */
  ended(): void {
    if (this.complete || this.failure) return;
    if (this.framing.kind === 'close') this.finish(NO_TRAILERS);
    else this.fail(new Http1Error('ERR_HTTP1_TRUNCATED'));
  }

  fail(error: Error): void {
    if (this.complete || this.failure) return;
    this.failure = error;
    this.sink?.abort(error);
  }

  private deliver(chunk: Buffer): void {
    if (!this.sink!.data(chunk)) this.paused = true;
  }

  private finish(trailers: HeaderList): void {
    this.complete = true;
    this.sink!.end(trailers);
  }
}

/**
 * Writes one message (head and body) with the given framing. The head waits for the first
 * body bytes or the end, so that head and a small body leave in one write (one TLS record).
 */
export class BodyWriter {
  private head: string | undefined;
  private written = 0;
  private finished = false;
  private waitingForDrain = false;

  constructor(
    private readonly socket: Socket,
    readonly framing: BodyFraming,
    head: string,
    private readonly onFinish: () => void,
  ) {
    this.head = head;
  }

  /** False when the socket's buffer is full: wait for onDrain. */
  write(chunk: Buffer): boolean {
    if (this.finished || this.socket.destroyed) return true;
    const { socket, framing } = this;
    if (framing.kind === 'none' || chunk.length === 0) {
      this.flushHead();
      return !socket.writableNeedDrain;
    }
    if (framing.kind === 'length' && this.written + chunk.length > framing.length) {
      // More bytes than the head announced: stop here rather than send them as a next message.
      this.abort();
      return true;
    }
    this.written += chunk.length;
    const chunked = framing.kind === 'chunked';
    const prefix = chunked ? `${this.head ?? ''}${chunk.length.toString(16)}\r\n` : this.head;
    this.head = undefined;
    if (chunk.length <= COALESCE_MAX_BYTES) {
      // One buffer, one write: no cork, no writev bookkeeping, one system call (one TLS record).
      const prefixBytes = prefix?.length ?? 0; // latin1: a byte per character
      const out = Buffer.allocUnsafe(prefixBytes + chunk.length + (chunked ? 2 : 0));
      if (prefix !== undefined) out.write(prefix, 0, 'latin1');
      chunk.copy(out, prefixBytes);
      if (chunked) out.write('\r\n', prefixBytes + chunk.length, 'latin1');
      socket.write(out);
      return !socket.writableNeedDrain;
    }
    socket.cork();
    if (prefix !== undefined) socket.write(prefix, 'latin1');
    socket.write(chunk);
    if (chunked) socket.write('\r\n', 'latin1');
    socket.uncork();
    return !socket.writableNeedDrain;
  }

  /** Completes the message; a body shorter than its Content-Length destroys the connection. */
  end(trailers: HeaderList = NO_TRAILERS): void {
    if (this.finished || this.socket.destroyed) return;
    const { socket, framing } = this;
    if (framing.kind === 'length' && this.written !== framing.length) return this.abort();
    this.finished = true;
    socket.cork();
    if (this.head !== undefined) socket.write(this.head, 'latin1');
    this.head = undefined;
    if (framing.kind === 'chunked') socket.write(lastChunk(trailers), 'latin1');
    socket.uncork();
    this.onFinish();
  }

  /** Sends the head now if nothing has gone yet (a body that is slow to start). */
  flushHead(): void {
    if (this.head === undefined || this.socket.destroyed) return;
    this.socket.write(this.head, 'latin1');
    this.head = undefined;
  }

  /** Calls back once when the socket can take more, however many writes asked for it. */
  onDrain(callback: () => void): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.socket.once('drain', () => {
      this.waitingForDrain = false;
      callback();
    });
  }

  get done(): boolean {
    return this.finished;
  }

  /** A message that cannot be completed correctly is cut off, never completed wrongly. */
  abort(): void {
    this.finished = true;
    this.socket.destroy();
  }
}

/**
 * Streams `source` into `target` with backpressure. Trailers travel only from chunked to
 * chunked (the reader has validated them). If the source fails midway the target is cut off.
 */
export function pipeBody(
  source: IncomingBody,
  target: BodyWriter,
  events: { onEnd?: () => void; onAbort?: (error: Error) => void } = {},
): void {
  source.read({
    data: (chunk) => {
      const more = target.write(chunk);
      if (!more) target.onDrain(() => source.resume());
      return more;
    },
    end: (trailers) => {
      target.end(source.framing.kind === 'chunked' ? trailers : NO_TRAILERS);
      events.onEnd?.();
    },
    abort: (error) => {
      target.abort();
      events.onAbort?.(error);
    },
  });
  if (!target.done) target.flushHead();
}
