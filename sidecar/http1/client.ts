// The client side of the HTTP/1.1 engine: a bounded pool of keep-alive connections to one
// destination. A connection carries one exchange at a time; it goes back to the pool only when
// both the request and a response that allows it are complete and nothing else arrived.
import type { OnReadOpts, Socket } from 'node:net';
import type { HeaderList } from '../headers.ts';
import { BodyReader, BodyWriter, pipeBody, type IncomingBody } from './body.ts';
import {
  CHUNKED,
  findHeadEnd,
  NO_BODY,
  parseResponseHead,
  serializeRequestHead,
  type BodyFraming,
  type ResponseHead,
} from './codec.ts';
import { Http1Error } from './errors.ts';
import { sweepPeriodMs, Sweeper } from './sweeper.ts';

/** The pool's read buffer: as large as a read Node would make, shared by its connections. */
const READ_BUFFER_BYTES = 64 * 1024;

export interface UpstreamRequest {
  readonly method: string;
  readonly target: string;
  /** Without framing fields: the engine writes them from the body's framing. */
  readonly headers: HeaderList;
  /** The body to forward (re-framed as it arrived: length or chunked), if any. */
  readonly body?: IncomingBody;
}

export interface UpstreamResponse {
  readonly head: ResponseHead;
  readonly body: IncomingBody;
  /** Whether the exchange went over a kept-alive connection. */
  readonly reusedConnection: boolean;
}

/** Why an exchange failed before a response head arrived: `timeout` is a 504, the rest 502. */
export type UpstreamFailure = 'connect' | 'timeout' | 'closed' | 'protocol' | 'saturated';

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface UpstreamHandlers {
  /** A 1xx answer other than 101 (100 Continue, 103 Early Hints). */
  informational?(head: ResponseHead): void;
  response(response: UpstreamResponse): void;
  /** The exchange failed before its response head; failures later abort the response body. */
  error(error: UpstreamError): void;
}

export interface Http1PoolOptions {
  /**
   * Opens a connection to the destination (TCP, or TLS with its peer checks), handing `onread`
   * to net.connect or tls.connect: the pool reads its sockets without the stream machinery.
   */
  connect(onread: OnReadOpts): Socket;
  /** Connections open at once, in use or idle. Default 64. */
  maxConnections?: number;
  /** Exchanges waiting for a connection; more fail at once. Default 1024. */
  maxWaiting?: number;
  /**
   * A connection silent this long is cut off: in an exchange, a 504 before a response. It runs
   * from the last byte read or written, in the pool as well, so an idle timeout above it closes
   * pooled connections after this instead.
   */
  exchangeTimeoutMs: number;
  /** An idle pooled connection is closed before this: within its last quarter (at most 1 s). */
  idleTimeoutMs: number;
}

export interface UpstreamExchange {
  /** The downstream went away: cut the upstream exchange off. */
  abort(): void;
}

export class Http1Pool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly busy = new Set<UpstreamConnection>();
  private readonly waiting: Attempt[] = [];
  private retired = false;
  readonly maxConnections: number;
  private readonly maxWaiting: number;
  private readonly sweeper: Sweeper;
  private readonly idleLimitMs: number;
  private readBuffer: Buffer | undefined;

  constructor(readonly options: Http1PoolOptions) {
    this.maxConnections = options.maxConnections ?? 64;
    this.maxWaiting = options.maxWaiting ?? 1024;
    const period = sweepPeriodMs(options.idleTimeoutMs);
    // Early rather than late: a connection must be gone before the server's own keep-alive
    // timeout could close it under a request, so it closes in the last period before the limit.
    this.idleLimitMs = options.idleTimeoutMs - period;
    this.sweeper = new Sweeper(period, (now) => this.closeIdle(now));
  }

  /** Closes the connections idle for about idleTimeoutMs, taking them out of the pool at once. */
  private closeIdle(now: number): void {
    let kept = 0;
    for (const connection of this.idle) {
      if (now - connection.idleSince >= this.idleLimitMs) connection.socket.destroy();
      else this.idle[kept++] = connection;
    }
    this.idle.length = kept;
    if (kept === 0) this.sweeper.stop();
  }

  request(request: UpstreamRequest, handlers: UpstreamHandlers): UpstreamExchange {
    const attempt = new Attempt(this, request, handlers);
    this.dispatch(attempt);
    return attempt;
  }

  /** Connections open to the destination, in use or idle. */
  get openConnections(): number {
    return this.idle.length + this.busy.size;
  }

  /** Closes idle connections; those in use finish their exchange and then close. */
  retire(): void {
    this.retired = true;
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
  }

  close(): void {
    this.retire();
    for (const connection of this.busy) connection.socket.destroy();
    for (const attempt of this.waiting.splice(0)) attempt.fail(new UpstreamError('closed', 'proxy closing'));
  }

  dispatch(attempt: Attempt, fresh = false): void {
    if (this.retired) return attempt.fail(new UpstreamError('closed', 'proxy closing'));
    let reused = fresh ? undefined : this.idle.pop();
    // A destroyed socket stays listed until its 'close' event (a tick later): never hand it out.
    while (reused?.socket.destroyed) reused = this.idle.pop();
    if (reused) {
      this.busy.add(reused);
      return reused.start(attempt, true);
    }
    if (this.busy.size + this.idle.length >= this.maxConnections) {
      if (fresh && this.idle.length > 0) this.idle.shift()!.socket.destroy();
      else if (this.waiting.length >= this.maxWaiting)
        return attempt.fail(new UpstreamError('saturated', 'too many requests waiting for a connection'));
      else return void this.waiting.push(attempt);
    }
    const connection = this.open();
    this.busy.add(connection);
    connection.start(attempt, false);
  }

  /**
   * A new connection, read through `onread` into the pool's one buffer: each read is copied out
   * before the next can land there, and Node's Readable machinery (a push, a 'data' event and a
   * read-more tick per read) is skipped.
   */
  private open(): UpstreamConnection {
    const socket = this.options.connect({
      buffer: (this.readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES)),
      // Never called before connect() returns: the connection exists by then.
      callback: (bytes, buffer) => {
        connection.received(Buffer.from(buffer.subarray(0, bytes)));
        return true;
      },
    });
    const connection = new UpstreamConnection(this, socket);
    return connection;
  }

  /** A connection finished its exchange; `reusable` when it may carry another. */
  released(connection: UpstreamConnection, reusable: boolean): void {
    this.busy.delete(connection);
    if (reusable && !this.retired) {
      const next = this.waiting.shift();
      if (next) {
        this.busy.add(connection);
        return connection.start(next, true);
      }
      connection.idleSince = performance.now();
      this.idle.push(connection);
      this.sweeper.start();
      return;
    }
    connection.socket.destroy();
    const next = this.waiting.shift();
    if (next) this.dispatch(next);
  }

  /** A connection closed: it leaves the pool wherever it was. */
  gone(connection: UpstreamConnection): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    if (this.busy.delete(connection)) {
      const next = this.waiting.shift();
      if (next) this.dispatch(next);
    }
  }

  cancel(attempt: Attempt): void {
    const index = this.waiting.indexOf(attempt);
    if (index >= 0) this.waiting.splice(index, 1);
  }
}

/** One exchange, which may be tried twice: once more when a reused connection was stale. */
class Attempt implements UpstreamExchange {
  connection: UpstreamConnection | undefined;
  settled = false;
  aborted = false;

  constructor(
    readonly pool: Http1Pool,
    readonly request: UpstreamRequest,
    readonly handlers: UpstreamHandlers,
  ) {}

  fail(error: UpstreamError): void {
    if (this.settled || this.aborted) return;
    this.settled = true;
    this.handlers.error(error);
  }

  abort(): void {
    this.aborted = true;
    this.pool.cancel(this);
    this.connection?.socket.destroy();
  }
}

class UpstreamConnection {
  private pending: Buffer | undefined;
  private scanned = 0;
  private attempt: Attempt | undefined;
  private reused = false;
  private gotBytes = false;
  private requestDone = false;
  private response: { head: ResponseHead; body: BodyReader } | undefined;
  private timedOut = false;
  private lastError: Error | undefined;
  /** When the connection last went back to the pool (performance.now() time). */
  idleSince = 0;

  constructor(
    private readonly pool: Http1Pool,
    readonly socket: Socket,
  ) {
    socket.setNoDelay(true);
    // Set once: Node refreshes it on every read and write, so it measures silence.
    socket.setTimeout(pool.options.exchangeTimeoutMs);
    socket.on('error', (error) => (this.lastError = error)); // 'close' follows
    socket.on('end', () => this.response?.body.ended());
    socket.once('close', () => this.closed());
    // Silence in an exchange is a 504; in the pool, the connection just closes.
    socket.on('timeout', () => {
      this.timedOut = this.attempt !== undefined;
      socket.destroy();
    });
  }

  /** Bytes read from the socket (a copy: the read buffer is the pool's). */
  received(chunk: Buffer): void {
    this.gotBytes = true;
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pump();
  }

  start(attempt: Attempt, reused: boolean): void {
    this.attempt = attempt;
    attempt.connection = this;
    this.reused = reused;
    this.gotBytes = false;
    this.requestDone = false;
    this.response = undefined;
    const { request } = attempt;
    const source = request.body;
    const framing: BodyFraming =
      source === undefined || source.framing.kind === 'none'
        ? NO_BODY
        : source.framing.kind === 'chunked'
          ? CHUNKED
          : source.framing;
    const head = serializeRequestHead(request.method, request.target, request.headers, framing);
    const writer = new BodyWriter(this.socket, framing, head, () => {
      this.requestDone = true;
      this.settle();
    });
    if (source && framing.kind !== 'none') pipeBody(source, writer);
    else writer.end();
    if (this.socket.isPaused()) this.socket.resume();
  }

  private pump(): void {
    const attempt = this.attempt;
    try {
      while (this.pending) {
        if (!attempt || attempt.aborted) {
          // Bytes nobody asked for: a response out of turn. This connection cannot be trusted.
          this.socket.destroy();
          return;
        }
        if (!this.response) {
          if (!this.readHead(attempt, this.pending)) break;
          continue;
        }
        const body = this.response.body;
        if (body.complete) {
          this.socket.destroy(); // more bytes after a complete response
          return;
        }
        if (!body.wants) break;
        const offset = body.consume(this.pending, 0);
        this.pending = offset < this.pending.length ? this.pending.subarray(offset) : undefined;
      }
    } catch (error) {
      if (!(error instanceof Http1Error)) throw error;
      if (this.response) this.response.body.fail(error);
      else attempt?.fail(new UpstreamError('protocol', `malformed response: ${error.message}`));
      this.socket.destroy();
      return;
    }
    // Reading stops only while a body waits for its reader (backpressure). A connection keeps
    // reading between exchanges: bytes out of turn destroy it above, and a close by the server
    // takes it out of the pool at once.
    const body = this.response?.body;
    const hold = body !== undefined && !body.complete && !body.wants;
    if (!hold && this.socket.isPaused()) this.socket.resume();
    else if (hold && !this.socket.isPaused()) this.socket.pause();
    if (body?.complete) this.settle();
  }

  private readHead(attempt: Attempt, buffer: Buffer): boolean {
    const end = findHeadEnd(buffer, this.scanned, false);
    if (end === -1) {
      this.scanned = buffer.length;
      return false;
    }
    const head = parseResponseHead(buffer.toString('latin1', 0, end - 4), attempt.request.method);
    this.pending = end < buffer.length ? buffer.subarray(end) : undefined;
    this.scanned = 0;
    if (head.status === 101) throw new Http1Error('ERR_HTTP1_STATUS_LINE'); // no upgrade was asked for
    if (head.status < 200) {
      attempt.handlers.informational?.(head);
      return true;
    }
    const body = new BodyReader(head.framing, () => this.pump());
    this.response = { head, body };
    attempt.settled = true;
    attempt.handlers.response({ head, body, reusedConnection: this.reused });
    return true;
  }

  /** Both directions complete: the connection goes back to the pool, or is closed. */
  private settle(): void {
    const response = this.response;
    if (!this.requestDone || !response?.body.complete || !this.attempt) return;
    this.attempt = undefined;
    const reusable = response.head.keepAlive && this.pending === undefined && !this.socket.destroyed;
    this.pool.released(this, reusable);
  }

  private closed(): void {
    this.pool.gone(this);
    const attempt = this.attempt;
    this.attempt = undefined;
    if (!attempt) return;
    if (this.response) {
      this.response.body.ended();
      return;
    }
    if (attempt.aborted || attempt.settled) return;
    // A kept-alive connection the server had closed meanwhile: try once on a fresh one, when
    // nothing was answered and no body bytes could have been taken.
    if (this.reused && !this.gotBytes && !this.timedOut && attempt.request.body === undefined) {
      return this.pool.dispatch(attempt, true);
    }
    attempt.fail(
      this.timedOut
        ? new UpstreamError('timeout', 'upstream timed out')
        : new UpstreamError(
            this.reused || this.gotBytes ? 'closed' : 'connect',
            this.lastError?.message ?? 'connection closed before a response',
          ),
    );
  }
}
