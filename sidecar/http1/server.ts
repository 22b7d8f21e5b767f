// The server side of the HTTP/1.1 engine: one request at a time per connection (pipelined bytes
// wait in the buffer with the socket paused), keep-alive per RFC 9112 §9.3, a deadline for each
// request head (slowloris), an idle timeout, and a drain for graceful shutdown.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderList } from '../headers.ts';
import { BodyReader, BodyWriter, type IncomingBody } from './body.ts';
import {
  CHUNKED,
  CLOSE_DELIMITED,
  findHeadEnd,
  NO_BODY,
  parseRequestHead,
  serializeResponseHead,
  type BodyFraming,
  type RequestHead,
} from './codec.ts';
import { Http1Error } from './errors.ts';
import { sweepPeriodMs, Sweeper } from './sweeper.ts';

/** One request on a connection and the means to answer it. */
export interface Http1Exchange {
  readonly request: RequestHead;
  readonly body: IncomingBody;
  /** The connection's socket (a TLSSocket for mTLS). */
  readonly socket: Socket;
  /** Whether a response head has been written (or staged to go with the first body bytes). */
  readonly headSent: boolean;
  /** Relays a 1xx answer (100 Continue, 103 Early Hints) to an HTTP/1.1 client. */
  informational(status: number, reason: string, headers: HeaderList): void;
  /**
   * Starts the response. The engine adapts `framing` to the client: no body for HEAD, 204 and
   * 304; chunked instead of close-delimited for HTTP/1.1, close-delimited instead of chunked
   * for HTTP/1.0.
   */
  writeHead(status: number, headers: HeaderList, framing: BodyFraming, reason?: string): BodyWriter;
  /** A complete response with a short text body, in one write. */
  respond(status: number, headers: HeaderList, text: string): void;
  /** Cuts the connection off: for a response that cannot be completed. */
  destroy(): void;
  /** Calls back once if the client goes away before the response is complete. */
  onAbort(callback: () => void): void;
}

export interface Http1ServerOptions {
  handle: (exchange: Http1Exchange) => void;
  /** A client must send each complete request head within this. Default 15 s. */
  headersTimeoutMs?: number;
  /** A connection silent this long is closed. Default 60 s. */
  idleTimeoutMs?: number;
}

export interface Http1Server {
  /** Serves HTTP/1.x on a connected socket; bytes already buffered on it are read first. */
  serve(socket: Socket): void;
  /** Open connections. */
  readonly connections: number;
  /** Stops keep-alive: idle connections close now, the others after their response. */
  drain(): void;
  destroyAll(): void;
}

const TEXT: HeaderList = [['content-type', 'text/plain; charset=utf-8']];
/** Bytes of the next requests a client may send while one is answered (pipelining). */
const MAX_EARLY_BYTES = 64 * 1024;

export function createHttp1Server(options: Http1ServerOptions): Http1Server {
  const headersTimeoutMs = options.headersTimeoutMs ?? 15_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const open = new Set<ServerConnection>();
  // Request-head deadlines (slowloris) are checked here, not by a timer per request.
  const sweeper = new Sweeper(sweepPeriodMs(headersTimeoutMs), (now) => {
    for (const connection of open) connection.checkHeadDeadline(now);
  });
  const shared = {
    handle: options.handle,
    headersTimeoutMs,
    draining: false,
    closed: (connection: ServerConnection) => {
      open.delete(connection);
      if (open.size === 0) sweeper.stop();
    },
  };
  return {
    serve(socket) {
      socket.setNoDelay(true);
      socket.setTimeout(idleTimeoutMs, () => socket.destroy());
      open.add(new ServerConnection(socket, shared));
      sweeper.start();
    },
    get connections() {
      return open.size;
    },
    drain() {
      shared.draining = true;
      for (const connection of open) connection.closeIfIdle();
    },
    destroyAll() {
      for (const connection of open) connection.socket.destroy();
    },
  };
}

interface Shared {
  readonly handle: (exchange: Http1Exchange) => void;
  readonly headersTimeoutMs: number;
  readonly draining: boolean;
  closed(connection: ServerConnection): void;
}

class ServerConnection {
  private pending: Buffer | undefined;
  private scanned = 0;
  private exchange: Exchange | undefined;
  private pumping = false;
  private ending = false;
  /**
   * When the request head being received must be complete (performance.now() time): armed when
   * the connection opens and when a later head's first bytes arrive. A kept-alive connection
   * with nothing on it has no head deadline, only the idle timeout: closing it sooner would
   * make the next burst pay for new handshakes.
   */
  private headDeadline = Infinity;

  constructor(
    readonly socket: Socket,
    private readonly shared: Shared,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      if (!this.exchange && this.headDeadline === Infinity) this.armHeaderDeadline();
      this.pump();
    });
    socket.on('end', () => this.exchange?.body.ended());
    socket.on('error', () => undefined); // 'close' follows
    socket.once('close', () => {
      this.exchange?.clientGone();
      shared.closed(this);
    });
    this.armHeaderDeadline();
    socket.resume();
  }

  closeIfIdle(): void {
    if (!this.exchange) this.end();
  }

  private armHeaderDeadline(): void {
    this.headDeadline = performance.now() + this.shared.headersTimeoutMs;
  }

  /** A head not complete by its deadline is refused (408). */
  checkHeadDeadline(now: number): void {
    if (!this.exchange && now >= this.headDeadline) this.refuse(408, 'request head timed out');
  }

  /** Moves buffered bytes along: the next request head, or body bytes its reader wants. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.ending && !this.socket.destroyed) {
        if (!this.exchange) {
          if (!this.pending || !this.startExchange(this.pending)) break;
          continue;
        }
        const body = this.exchange.body;
        if (!body.wants || !this.pending) break;
        const offset = body.consume(this.pending, 0);
        this.pending = offset < this.pending.length ? this.pending.subarray(offset) : undefined;
      }
    } catch (error) {
      if (!(error instanceof Http1Error)) throw error;
      this.malformed(error);
    } finally {
      this.pumping = false;
    }
    this.updateFlow();
  }

  /**
   * Stops reading the socket only for backpressure: a request body its reader does not take
   * now, or more pipelined bytes waiting than MAX_EARLY_BYTES. Pausing for every request would
   * cost two system calls per request for nothing.
   */
  private updateFlow(): void {
    if (this.ending || this.socket.destroyed) return;
    const body = this.exchange?.body;
    const hold =
      body !== undefined && !body.wants && (!body.complete || (this.pending?.length ?? 0) >= MAX_EARLY_BYTES);
    if (!hold && this.socket.isPaused()) this.socket.resume();
    else if (hold && !this.socket.isPaused()) this.socket.pause();
  }

  /** Parses a request head from `buffer` if complete; false while it is not. */
  private startExchange(buffer: Buffer): boolean {
    const end = findHeadEnd(buffer, this.scanned, true);
    if (end === -1) {
      this.scanned = buffer.length;
      return false;
    }
    const head = parseRequestHead(buffer.toString('latin1', 0, end - 4));
    this.pending = end < buffer.length ? buffer.subarray(end) : undefined;
    this.scanned = 0;
    const exchange = new Exchange(this, head, () => this.pump());
    this.exchange = exchange;
    this.shared.handle(exchange);
    return true;
  }

  /** Whether the response may leave the connection open for another request. */
  mayKeepAlive(head: RequestHead): boolean {
    return head.keepAlive && !this.shared.draining;
  }

  /** The response is complete: the next request, or the end of the connection. */
  responseDone(exchange: Exchange, keepAlive: boolean): void {
    if (this.exchange !== exchange) return;
    this.exchange = undefined;
    // Unread request bytes would be taken for the next request: close instead, and let
    // whoever still forwards the body know that it will not complete.
    if (!exchange.body.complete) {
      exchange.body.fail(new Http1Error('ERR_HTTP1_TRUNCATED'));
      return this.end();
    }
    if (!keepAlive || this.shared.draining) return this.end();
    // Pipelined bytes are the next head's start; without them the deadline waits for a byte.
    if (this.pending) this.armHeaderDeadline();
    else this.headDeadline = Infinity;
    this.pump();
  }

  private malformed(error: Http1Error): void {
    const exchange = this.exchange;
    if (!exchange) return this.refuse(error.status, error.message);
    exchange.body.fail(error);
    if (exchange.headSent) this.socket.destroy();
    else this.refuse(error.status, error.message);
  }

  /** Answers a request that is not served (bad framing, timeout) and closes the connection. */
  private refuse(status: number, message: string): void {
    if (this.ending || this.socket.destroyed) return;
    this.exchange = undefined;
    const body = `${message}\n`;
    this.socket.write(
      serializeResponseHead(
        status,
        STATUS_CODES[status] ?? '',
        TEXT,
        { kind: 'length', length: Buffer.byteLength(body) },
        'close',
      ) + body,
      'latin1',
    );
    this.end();
  }

  private end(): void {
    if (this.ending) return;
    this.ending = true;
    this.socket.destroySoon(); // ends, and closes once what was written has gone
  }
}

class Exchange implements Http1Exchange {
  readonly body: BodyReader;
  private writer: BodyWriter | undefined;
  private abortCallbacks: (() => void)[] | undefined;
  private done = false;

  constructor(
    private readonly connection: ServerConnection,
    readonly request: RequestHead,
    pull: () => void,
  ) {
    this.body = new BodyReader(request.framing, pull);
  }

  get socket(): Socket {
    return this.connection.socket;
  }

  get headSent(): boolean {
    return this.writer !== undefined;
  }

  informational(status: number, reason: string, headers: HeaderList): void {
    if (this.writer || this.request.version !== '1.1' || status < 100 || status > 199 || status === 101)
      return;
    this.socket.write(serializeResponseHead(status, reason, headers, NO_BODY, undefined), 'latin1');
  }

  writeHead(status: number, headers: HeaderList, framing: BodyFraming, reason?: string): BodyWriter {
    if (this.writer) throw new TypeError('the response head was written already');
    const { request } = this;
    let used = framing;
    if (request.method === 'HEAD' || status === 204 || status === 304 || status < 200) {
      const declared =
        framing.kind === 'length'
          ? framing.length
          : framing.kind === 'none'
            ? framing.declaredLength
            : undefined;
      used = status === 204 || declared === undefined ? NO_BODY : { kind: 'none', declaredLength: declared };
    } else if (framing.kind === 'close' && request.version === '1.1') {
      used = CHUNKED;
    } else if (framing.kind === 'chunked' && request.version === '1.0') {
      used = CLOSE_DELIMITED;
    }
    const keepAlive = this.connection.mayKeepAlive(request) && used.kind !== 'close';
    const connection = !keepAlive ? 'close' : request.version === '1.0' ? 'keep-alive' : undefined;
    const head = serializeResponseHead(
      status,
      reason ?? STATUS_CODES[status] ?? '',
      headers,
      used,
      connection,
    );
    this.writer = new BodyWriter(this.socket, used, head, () => {
      this.done = true;
      this.connection.responseDone(this, keepAlive);
    });
    return this.writer;
  }

  respond(status: number, headers: HeaderList, text: string): void {
    const body = Buffer.from(text);
    const fields = [...headers.filter(([name]) => name.toLowerCase() !== 'content-type'), ...TEXT];
    const writer = this.writeHead(status, fields, { kind: 'length', length: body.length });
    writer.write(body);
    writer.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  onAbort(callback: () => void): void {
    (this.abortCallbacks ??= []).push(callback);
  }

  /** The connection closed: an unfinished exchange is aborted. */
  clientGone(): void {
    if (this.done) return;
    this.done = true;
    this.body.fail(new Http1Error('ERR_HTTP1_TRUNCATED'));
    for (const callback of this.abortCallbacks ?? []) callback();
  }
}
