// The HTTP/2 half of the outbound proxy: the app speaks h2c (prior knowledge, as gRPC clients
// do for http:// targets); each stream is routed by :authority as HTTP/1.1 routes by Host and
// carried over one pooled mTLS HTTP/2 session per destination (ALPN h2), whose server must
// present exactly the SPIFFE ID expected. The user's Authorization travels on unchanged;
// identity headers the app may have copied from an inbound request are dropped.
import {
  connect,
  createServer,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { serverSpiffeIdCheck } from '../lib/peer.ts';
import { FOREIGN_IDENTITY_HEADERS, fromRawHeaders, RESERVED_PREFIX } from './headers.ts';
import { guardSessionHeaders } from './http2-front.ts';
import { refuseStream } from './http2-forwarder.ts';
import { isGrpc } from './http2-grpc.ts';
import { relayStream, toHttp2Fields } from './http2-relay.ts';
import { http2ServerOptions, type Http2Limits, type TlsMaterial } from './listener.ts';
import { parseHost, type Destination, type OutboundResult } from './outbound.ts';

export interface Http2OutboundOptions {
  /** The current SVID and bundle: read for every new mesh session. */
  tls: () => TlsMaterial;
  trustDomains: () => ReadonlySet<string>;
  /** Routes an :authority; a route outside the mesh (outOfMesh) is HTTP/1.1-only and refused here. */
  resolve: (host: string, port: number) => Destination | { readonly outOfMesh: unknown } | undefined;
  onResult?: (result: OutboundResult) => void;
  /** Bound on a TLS connection to a destination. Default 10 s. */
  connectTimeoutMs?: number;
  /** A pooled session with no stream for this long is closed. Default 60 s. */
  idleTimeoutMs?: number;
  /** A client must complete a request's headers within this. Default 15 s. */
  headersTimeoutMs?: number;
  limits?: Http2Limits;
}

export interface Http2Outbound {
  /** Takes h2c connections from the app (handed over by the plaintext front). */
  readonly server: Http2Server;
  /** New streams use sessions with the current SVID; open ones finish on the old sessions. */
  rotate(): void;
  close(): void;
}

/** Request fields the next hop may see: no spoofable identity headers. */
function meshFields(rawHeaders: readonly string[]): OutgoingHttpHeaders {
  return toHttp2Fields(
    fromRawHeaders(rawHeaders).filter(([raw]) => {
      const name = raw.toLowerCase();
      return !name.startsWith(RESERVED_PREFIX) && !FOREIGN_IDENTITY_HEADERS.includes(name);
    }),
  );
}

export function createHttp2Outbound(options: Http2OutboundOptions): Http2Outbound {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const pool = new Map<string, ClientHttp2Session>();
  const appSessions = new Set<ServerHttp2Session>();

  const sessionFor = (destination: Destination): ClientHttp2Session => {
    const key = `${destination.spiffeId} ${destination.address}:${destination.port}`;
    const pooled = pool.get(key);
    if (pooled && !pooled.closed && !pooled.destroyed) return pooled;
    const material = options.tls();
    const session = connect(`https://${destination.address}:${destination.port}`, {
      cert: material.certChainPem,
      key: material.keyPem,
      ca: material.bundlePem,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['h2'],
      checkServerIdentity: serverSpiffeIdCheck(destination.spiffeId, options.trustDomains),
    });
    const forget = () => {
      if (pool.get(key) === session) pool.delete(key);
    };
    const connecting = setTimeout(() => session.destroy(new Error('connect timed out')), connectTimeoutMs);
    connecting.unref();
    session.once('connect', () => clearTimeout(connecting));
    session.setTimeout(idleTimeoutMs, () => session.close());
    session.on('error', forget); // each stream on it fails and answers for itself
    session.once('goaway', forget);
    session.once('close', () => {
      clearTimeout(connecting);
      forget();
    });
    session.unref();
    pool.set(key, session);
    return session;
  };

  const handleStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) => {
    const grpc = isGrpc(headers['content-type']);
    stream.on('error', () => undefined); // a reset by the app surfaces as 'close'
    const fail = (status: number, message: string, destination?: string) => {
      options.onResult?.({ destination, status, error: message });
      refuseStream(stream, grpc, status, message, { 'x-lanyard-error': message });
    };
    const authority = headers[':authority'] ?? headers.host;
    const target = parseHost(authority); // routed as HTTP/1.1 routes by Host
    if (!target || headers[':path'] === undefined) return fail(400, 'missing or malformed :authority');
    const destination = options.resolve(target.host, target.port);
    if (!destination) return fail(502, `no mesh route to ${target.host}:${target.port}`);
    if ('outOfMesh' in destination) return fail(502, 'out-of-mesh routes are served over HTTP/1.1 only');

    let upstream;
    try {
      upstream = sessionFor(destination).request({
        ...meshFields(rawHeaders),
        ':method': headers[':method'] ?? 'GET',
        ':path': headers[':path'],
        ':scheme': 'https',
        ':authority': authority!,
      });
    } catch {
      return fail(400, 'malformed request headers', destination.spiffeId);
    }
    relayStream(stream, upstream, {
      onResponse: (status) => options.onResult?.({ destination: destination.spiffeId, status }),
      onFailure: (reason, clientGone) => {
        if (!clientGone) fail(502, reason, destination.spiffeId);
      },
    });
  };

  const server = createServer(http2ServerOptions(options.limits));
  server.setTimeout(idleTimeoutMs);
  server.on('session', (session: ServerHttp2Session) => {
    appSessions.add(session);
    session.once('close', () => appSessions.delete(session));
    session.on('error', () => undefined);
    guardSessionHeaders(session, options.headersTimeoutMs ?? 15_000);
  });
  // Node passes the raw header list fourth (duplicates kept; @types/node omits it).
  server.on(
    'stream',
    (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) =>
      handleStream(stream, headers, rawHeaders),
  );

  return {
    server,
    rotate: () => {
      const old = [...pool.values()];
      pool.clear();
      for (const session of old) session.close();
    },
    close: () => {
      for (const session of pool.values()) session.destroy();
      pool.clear();
      for (const session of appSessions) session.destroy();
    },
  };
}
