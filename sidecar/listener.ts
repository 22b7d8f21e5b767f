// The inbound listener: one port that speaks mTLS, and, while the workload's policy is
// PERMISSIVE, plaintext HTTP too. The first byte tells them apart (a TLS record starts 0x16).
// Over TLS, ALPN picks HTTP/2 or HTTP/1.1; in plaintext, the HTTP/2 preface (prior knowledge,
// "h2c") does. Certificates rotate through setSecureContext: new handshakes get the new SVID,
// open connections keep theirs, none is dropped.
import {
  createServer as createHttp2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { verifyPeer, type PeerVerdict } from '../lib/peer.ts';
import { guardSessionHeaders, sniffPreface } from './http2-front.ts';
import { createHttp1Server, type Http1Exchange } from './http1/index.ts';
import { listenOn } from './listen.ts';

export interface TlsMaterial {
  /** PEM: the SVID followed by any intermediates. */
  certChainPem: string;
  keyPem: string;
  /** PEM: every root the peers may chain to. */
  bundlePem: string;
}

export interface ListenerOptions {
  tls: TlsMaterial;
  trustDomains: () => ReadonlySet<string>;
  /** Read per connection: plaintext is accepted only while this says PERMISSIVE. */
  mtlsMode: () => 'STRICT' | 'PERMISSIVE';
  /** Handles an HTTP/1.x request (the sidecar's own engine); `peer` is undefined for plaintext. */
  handle: (exchange: Http1Exchange, peer: PeerVerdict | undefined) => void;
  /** Handles an HTTP/2 stream. Without it, the listener speaks HTTP/1.1 only. */
  handleStream?: (
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    rawHeaders: readonly string[],
    peer: PeerVerdict | undefined,
  ) => void;
  /** HTTP/2 bounds per connection. */
  http2?: Http2Limits;
  /** Bounds: a client that sends nothing is cut off. Defaults 10 s and 60 s. */
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** A client must send all its request headers within this (slowloris). Default 15 s. */
  headersTimeoutMs?: number;
  /** Called when a connection is refused, with the reason (for counters and logs). */
  onRefused?: (reason: string) => void;
}

export interface Http2Limits {
  /** Streams open at once; more are refused with REFUSED_STREAM. Default 100. */
  maxConcurrentStreams?: number;
  /** Bytes of one header list (HPACK-decoded, as RFC 9113 counts it). Default 32 KiB, as HTTP/1.1. */
  maxHeaderListSize?: number;
}

/** Node's HTTP/2 server options for one listener: every per-connection resource bounded. */
export function http2ServerOptions(limits: Http2Limits = {}) {
  return {
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams ?? 100,
      maxHeaderListSize: limits.maxHeaderListSize ?? 32 * 1024,
      enablePush: false,
    },
    maxHeaderListPairs: 128,
    // SETTINGS entries a peer may send in one frame, and MiB of buffered frames per session.
    maxSettings: 32,
    maxSessionMemory: 10,
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
  };
}

/** RFC 9113 §6.5.2: a header list's size is its names and values plus 32 octets per field. */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (const part of rawHeaders) size += Buffer.byteLength(part);
  return size + 16 * rawHeaders.length;
}

const TLS_HANDSHAKE = 0x16;
const peerOf = new WeakMap<Socket, PeerVerdict>();

export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    cert: material.certChainPem,
    key: material.keyPem,
    ca: material.bundlePem,
    minVersion: 'TLSv1.2',
  };
}

export interface InboundListener {
  readonly server: Server;
  listen(port: number, host?: string): Promise<number>;
  rotate(material: TlsMaterial): void;
  /**
   * Stops accepting connections, lets requests in flight finish (up to graceMs, default 10 s),
   * closes idle connections at once and whatever is left at the deadline.
   */
  close(graceMs?: number): Promise<void>;
}

export function createInboundListener(options: ListenerOptions): InboundListener {
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const refuse = (socket: Socket, reason: string) => {
    options.onRefused?.(reason);
    socket.destroy();
  };

  const headersTimeoutMs = options.headersTimeoutMs ?? 15_000;
  let draining = false;
  const http1 = createHttp1Server({
    handle: (exchange) => options.handle(exchange, peerOf.get(exchange.socket)),
    headersTimeoutMs,
    idleTimeoutMs,
  });
  const serveHttp = (socket: Socket) => http1.serve(socket);

  // HTTP/2 sessions, each with the peer of its connection, so that streams know their caller
  // and close() can drain them. The server creates a session synchronously in 'connection'.
  const handleStream = options.handleStream;
  const sessions = new Map<ServerHttp2Session, { peer: PeerVerdict | undefined }>();
  let connecting: { peer: PeerVerdict | undefined } | undefined;
  const h2 = handleStream && createHttp2Server(http2ServerOptions(options.http2));
  const maxHeaderListSize = http2ServerOptions(options.http2).settings.maxHeaderListSize;
  if (h2 && handleStream) {
    h2.setTimeout(idleTimeoutMs); // a session silent this long is closed
    h2.on('session', (session) => {
      if (!connecting) return session.destroy(); // not handed over by serveHttp2: no known peer
      sessions.set(session, connecting);
      session.once('close', () => sessions.delete(session));
      session.on('error', () => undefined); // a broken connection only ends its own session
      guardSessionHeaders(session, headersTimeoutMs);
      if (draining) session.close();
    });
    // Node passes the raw header list fourth (duplicates kept; @types/node omits it).
    h2.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
        const context = sessions.get(stream.session as ServerHttp2Session);
        if (!context) return stream.close();
        // The SETTINGS value binds a client only once it has read it; this binds every stream.
        if (headerListSize(rawHeaders) > maxHeaderListSize) {
          stream.respond({ ':status': 431 }, { endStream: true });
          return;
        }
        handleStream(stream, headers, rawHeaders, context.peer);
      },
    );
  }
  const serveHttp2 = (socket: Socket, peer: PeerVerdict | undefined) => {
    connecting = { peer };
    try {
      h2!.emit('connection', socket);
    } finally {
      connecting = undefined;
    }
  };

  const tls = createTlsServer({
    ...secureContextOptions(options.tls),
    requestCert: true,
    rejectUnauthorized: true, // the chain must verify against the bundle
    handshakeTimeout: handshakeTimeoutMs,
    ALPNProtocols: h2 ? ['h2', 'http/1.1'] : ['http/1.1'],
  });
  tls.on('secureConnection', (socket: TLSSocket) => {
    const raw = socket.getPeerX509Certificate();
    if (!raw) return refuse(socket, 'no client certificate');
    const verdict = verifyPeer(raw, {
      trustDomains: options.trustDomains(),
      role: 'client',
    });
    if (!verdict.ok) return refuse(socket, verdict.reason);
    if (h2 && socket.alpnProtocol === 'h2') return serveHttp2(socket, verdict);
    peerOf.set(socket, verdict);
    serveHttp(socket);
  });
  tls.on('tlsClientError', (error) => options.onRefused?.(`TLS handshake failed: ${error.message}`));

  const server = createNetServer(
    // Without noDelay, Nagle's algorithm holds a response's last small TLS record until the
    // peer's delayed ACK (~40 ms): every request on a kept-alive connection would stall.
    { pauseOnConnect: true, noDelay: true },
    (socket) => {
      socket.setTimeout(handshakeTimeoutMs, () => socket.destroy());
      socket.once('readable', () => {
        const first = socket.read(1) as Buffer | null;
        if (first === null) {
          socket.destroy();
          return;
        }
        // TLSSocket and the HTTP parser both take over bytes still buffered on the socket.
        socket.unshift(first);
        if (first[0] === TLS_HANDSHAKE) {
          socket.setTimeout(0);
          tls.emit('connection', socket);
        } else if (options.mtlsMode() === 'PERMISSIVE') {
          if (!h2) {
            socket.setTimeout(0);
            return serveHttp(socket);
          }
          sniffPreface(socket, (protocol) => {
            if (protocol === undefined) {
              socket.destroy();
            } else {
              socket.setTimeout(0);
              if (protocol === 'h2') serveHttp2(socket, undefined);
              else serveHttp(socket);
            }
          });
        } else {
          refuse(socket, 'plaintext connection while mTLS is STRICT');
        }
      });
    },
  );

  return {
    server,
    listen: (port, host = '0.0.0.0') => listenOn(server, port, host),
    rotate: (material) => tls.setSecureContext(secureContextOptions(material)),
    close: async (graceMs = 10_000) => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Idle HTTP/1.1 connections close now, busy ones after their response.
      http1.drain();
      // GOAWAY: the streams open now finish, no new one starts.
      for (const session of sessions.keys()) session.close();
      const deadline = Date.now() + graceMs;
      while ((http1.connections > 0 || sessions.size > 0) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      http1.destroyAll();
      for (const session of sessions.keys()) session.destroy();
      await closed;
    },
  };
}
