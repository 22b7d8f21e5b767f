// What a plaintext connection speaks (HTTP/2 with prior knowledge, RFC 9113 §3.3, or HTTP/1.x),
// told from its first bytes, and the HTTP/2 header deadline that cuts off a session that never
// sends a complete request head (the HTTP/1.1 engine has its own). Servers here never listen
// themselves (connections are handed to them), so Node's own header timeouts never run.
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';

/** RFC 9113 §3.4: the client connection preface. */
export const H2_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type Protocol = 'h2' | 'http1';

/**
 * Reads the first bytes of a paused socket until they either are the whole HTTP/2 preface or
 * cannot become it, then puts them back for the parser that takes over. Calls back once, with
 * undefined when the socket ends first. The caller bounds the wait (a socket timeout).
 */
export function sniffPreface(socket: Socket, done: (protocol: Protocol | undefined) => void): void {
  const chunks: Buffer[] = [];
  let settled = false;
  const finish = (protocol: Protocol | undefined) => {
    if (settled) return;
    settled = true;
    socket.off('readable', onReadable);
    socket.off('end', onEnd);
    // After 'end' a stream takes nothing back, and the caller drops the socket anyway.
    if (protocol !== undefined && chunks.length > 0) socket.unshift(Buffer.concat(chunks));
    done(protocol);
  };
  const onEnd = () => finish(undefined);
  const onReadable = () => {
    let chunk: Buffer | null;
    while (!settled && (chunk = socket.read() as Buffer | null) !== null) {
      chunks.push(chunk);
      const seen = Buffer.concat(chunks);
      const length = Math.min(seen.length, H2_PREFACE.length);
      if (!seen.subarray(0, length).equals(H2_PREFACE.subarray(0, length))) return finish('http1');
      if (length === H2_PREFACE.length) return finish('h2');
    }
  };
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
  onReadable(); // bytes already buffered (a caller may have peeked and unshifted) emit no new event
}

/**
 * The HTTP/2 header deadline: a session must complete a request's HEADERS within
 * timeoutMs of opening, and again whenever its last open stream closes; otherwise it is
 * destroyed. A header block that never completes never opens a stream, so it cannot hold a
 * connection open.
 */
export function guardSessionHeaders(session: ServerHttp2Session, timeoutMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => session.destroy(), timeoutMs);
    timer.unref();
  };
  arm();
  session.on('stream', (stream) => {
    open += 1;
    clearTimeout(timer);
    stream.once('close', () => {
      open -= 1;
      if (open === 0 && !session.destroyed && !session.closed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
}

export interface PlaintextFrontOptions {
  /** Serves an HTTP/1.x connection (the sidecar's engine, which bounds its request heads). */
  http1: (socket: Socket) => void;
  http2: Http2Server;
  /** A client must show which protocol it speaks within this. */
  sniffTimeoutMs: number;
}

export interface PlaintextFront {
  readonly server: Server;
  /** Destroys every connection the front handed on. */
  destroyAll(): void;
}

/** One plaintext port for both protocols: each connection goes to the server that speaks it. */
export function createPlaintextFront(options: PlaintextFrontOptions): PlaintextFront {
  const sockets = new Set<Socket>();
  const server = createNetServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setTimeout(options.sniffTimeoutMs, () => socket.destroy());
    sniffPreface(socket, (protocol) => {
      if (protocol === undefined) {
        socket.destroy();
      } else {
        socket.setTimeout(0);
        if (protocol === 'h2') options.http2.emit('connection', socket);
        else options.http1(socket);
      }
    });
  });
  return {
    server,
    destroyAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}
