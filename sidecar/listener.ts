// The inbound listener: one port that speaks mTLS, and, while the workload's policy is
// PERMISSIVE, plaintext HTTP too. The first byte tells them apart (a TLS record starts 0x16).
// Certificates rotate through setSecureContext: new handshakes get the new SVID, open
// connections keep theirs, none is dropped.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { verifyPeer, type PeerVerdict } from '../lib/peer.ts';
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
  /** Handles a request; `peer` is undefined for plaintext. */
  handle: (request: IncomingMessage, response: ServerResponse, peer: PeerVerdict | undefined) => void;
  /** Bounds: a client that sends nothing is cut off. Defaults 10 s and 60 s. */
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** A client must send all its request headers within this (slowloris). Default 15 s. */
  headersTimeoutMs?: number;
  /** Called when a connection is refused, with the reason (for counters and logs). */
  onRefused?: (reason: string) => void;
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
  // This HTTP server never listens itself (connections are handed to it), so Node's own header
  // and request timeouts never run: each connection gets a deadline for its next request's
  // headers instead, armed on arrival and after each response, cleared when headers are in.
  const headerDeadlines = new WeakMap<Socket, NodeJS.Timeout>();
  const armHeaderDeadline = (socket: Socket) => {
    clearTimeout(headerDeadlines.get(socket));
    const timer = setTimeout(() => socket.destroy(), headersTimeoutMs);
    timer.unref();
    headerDeadlines.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  };
  // Open connections and their requests in flight, so that close() can drain them.
  const inFlight = new Map<Socket, number>();
  let draining = false;
  const settle = (socket: Socket) => {
    if (draining && (inFlight.get(socket) ?? 0) === 0) socket.destroy();
  };
  const http = createHttpServer(
    { maxHeaderSize: 32 * 1024, keepAliveTimeout: idleTimeoutMs },
    (request, response) => {
      const socket = request.socket;
      clearTimeout(headerDeadlines.get(socket));
      inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
      if (draining) response.setHeader('connection', 'close');
      response.once('finish', () => armHeaderDeadline(socket));
      response.once('close', () => {
        inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1);
        settle(socket);
      });
      options.handle(request, response, peerOf.get(socket));
    },
  );
  http.setTimeout(idleTimeoutMs); // a connection silent this long is closed
  const serveHttp = (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
    armHeaderDeadline(socket);
    http.emit('connection', socket);
  };

  const tls = createTlsServer({
    ...secureContextOptions(options.tls),
    requestCert: true,
    rejectUnauthorized: true, // the chain must verify against the bundle
    handshakeTimeout: handshakeTimeoutMs,
  });
  tls.on('secureConnection', (socket: TLSSocket) => {
    const raw = socket.getPeerX509Certificate();
    if (!raw) return refuse(socket, 'no client certificate');
    const verdict = verifyPeer(raw, {
      trustDomains: options.trustDomains(),
      role: 'client',
    });
    if (!verdict.ok) return refuse(socket, verdict.reason);
    peerOf.set(socket, verdict);
    serveHttp(socket);
  });
  tls.on('tlsClientError', (error) => options.onRefused?.(`TLS handshake failed: ${error.message}`));

  const server = createNetServer({ pauseOnConnect: true }, (socket) => {
    socket.setTimeout(handshakeTimeoutMs, () => socket.destroy());
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      // TLSSocket and the HTTP parser both take over bytes still buffered on the socket.
      socket.unshift(first);
      socket.setTimeout(0);
      if (first[0] === TLS_HANDSHAKE) {
        tls.emit('connection', socket);
      } else if (options.mtlsMode() === 'PERMISSIVE') {
        serveHttp(socket);
      } else {
        refuse(socket, 'plaintext connection while mTLS is STRICT');
      }
    });
  });

  return {
    server,
    listen: (port, host = '0.0.0.0') => listenOn(server, port, host),
    rotate: (material) => tls.setSecureContext(secureContextOptions(material)),
    close: async (graceMs = 10_000) => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of inFlight.keys()) settle(socket);
      const deadline = Date.now() + graceMs;
      while (inFlight.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      for (const socket of inFlight.keys()) socket.destroy();
      await closed;
    },
  };
}
