// The outbound proxy: the app speaks plain HTTP to it (directly, or redirected by iptables);
// it routes by the Host header to the destination workload's sidecar over mTLS, checks that
// the server presents exactly the SPIFFE ID expected for that destination, and reuses
// connections. The user's Authorization header travels on unchanged; identity headers the
// app may have copied from an inbound request are dropped (the next hop sets its own).
import type { OnReadOpts, Server } from 'node:net';
import {
  connect as connectTls,
  createSecureContext,
  type ConnectionOptions,
  type SecureContext,
} from 'node:tls';
import { serverSpiffeIdCheck } from '../lib/peer.ts';
import { FOREIGN_IDENTITY_HEADERS, HOP_BY_HOP_HEADERS, RESERVED_PREFIX, type HeaderList } from './headers.ts';
import { createPlaintextFront } from './http2-front.ts';
import { createHttp1Server, Http1Pool, type Http1Exchange, type RequestHead } from './http1/index.ts';
import { relayInformational, relayResponse } from './http1/relay.ts';
import { createHttp2Outbound } from './http2-outbound.ts';
import { listenOn } from './listen.ts';
import { secureContextOptions, type TlsMaterial } from './listener.ts';
import { isOutOfMesh, type OutboundRoute, type OutOfMeshForwarder } from './out-of-mesh.ts';

export interface Destination {
  /** Where the destination's inbound sidecar listens. */
  address: string;
  port: number;
  /** The SPIFFE ID the destination must present. */
  spiffeId: string;
}

export interface OutboundOptions {
  tls: TlsMaterial;
  trustDomains: () => ReadonlySet<string>;
  /** Resolves a Host header value (lowercase, without port) and port to a route. */
  resolve: (host: string, port: number) => OutboundRoute | undefined;
  /** Handles routes outside the mesh (service JWTs); without it they are refused with 502. */
  outOfMesh?: OutOfMeshForwarder;
  /** Sockets kept per destination. Default 64. */
  maxSocketsPerDestination?: number;
  /** Bound on a whole upstream exchange. Default 30 s. */
  upstreamTimeoutMs?: number;
  onResult?: (result: OutboundResult) => void;
}

export interface OutboundResult {
  destination?: string;
  status: number;
  error?: string;
  /** Whether the request went over a kept-alive connection. */
  reusedConnection?: boolean;
  /** From the request to the end of the answer; set when an answer came. */
  durationMs?: number;
}

const HOST = /^([a-z0-9.-]{1,253})(?::(\d{1,5}))?$/;

/** Reads the destination host and port from a Host header; undefined when malformed. */
export function parseHost(value: string | undefined): { host: string; port: number } | undefined {
  const match = HOST.exec((value ?? '').trim().toLowerCase());
  if (!match) return undefined;
  const port = match[2] === undefined ? 80 : Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1]!.replace(/\.$/, ''), port };
}

/** The app's request fields without hop-by-hop fields and without any identity it may have copied. */
function outgoingHeaders(request: RequestHead): HeaderList {
  const kept: (readonly [string, string])[] = [];
  for (const field of request.headers) {
    const name = field[0].toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(name) || request.connectionTokens.includes(name)) continue;
    if (name.startsWith(RESERVED_PREFIX) || FOREIGN_IDENTITY_HEADERS.includes(name)) continue;
    kept.push(field);
  }
  return kept;
}

export interface OutboundProxy {
  readonly server: Server;
  listen(port: number, host?: string): Promise<number>;
  rotate(material: TlsMaterial): void;
  /** Open mTLS connections to mesh destinations (in use or idle). */
  openConnections(): number;
  close(): Promise<void>;
}

export function createOutboundProxy(options: OutboundOptions): OutboundProxy {
  let material = options.tls;
  // One parsed context per SVID, shared by every destination's pool: a new connection then
  // does not parse the key, chain and bundle again.
  let context: SecureContext = createSecureContext(secureContextOptions(material));
  const pools = new Map<string, Http1Pool>();
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 30_000;

  const poolFor = (destination: Destination): Http1Pool => {
    const key = `${destination.spiffeId} ${destination.address}:${destination.port}`;
    let pool = pools.get(key);
    if (!pool) {
      pool = new Http1Pool({
        connect: (onread) => {
          // tls.connect takes onread as net.connect does (Node's docs); @types/node omits it.
          const connection: ConnectionOptions & { onread: OnReadOpts } = {
            onread,
            host: destination.address,
            port: destination.port,
            secureContext: context,
            ALPNProtocols: ['http/1.1'],
            // Checked on every new connection.
            checkServerIdentity: serverSpiffeIdCheck(destination.spiffeId, options.trustDomains),
          };
          return connectTls(connection);
        },
        maxConnections: options.maxSocketsPerDestination ?? 64,
        exchangeTimeoutMs: upstreamTimeoutMs,
        idleTimeoutMs: 30_000,
      });
      pools.set(key, pool);
    }
    return pool;
  };

  const fail = (exchange: Http1Exchange, status: number, message: string, destination?: string) => {
    options.onResult?.({ destination, status, error: message });
    if (exchange.headSent) return exchange.destroy();
    const safe = message.replace(/[^\x20-\x7e]/g, ' ');
    exchange.respond(status, [['x-lanyard-error', safe]], `${safe}\n`);
  };

  const handle = (exchange: Http1Exchange) => {
    const { request } = exchange;
    const target = parseHost(request.host);
    const started = performance.now();
    if (!target) return fail(exchange, 400, 'missing or malformed Host header');
    const destination = options.resolve(target.host, target.port);
    if (!destination) return fail(exchange, 502, `no mesh route to ${target.host}:${target.port}`);
    if (isOutOfMesh(destination)) {
      if (!options.outOfMesh) return fail(exchange, 502, 'out-of-mesh routes are not enabled');
      return options.outOfMesh.forward(exchange, destination, outgoingHeaders(request));
    }

    const upstream = poolFor(destination).request(
      {
        method: request.method,
        target: request.target,
        headers: outgoingHeaders(request),
        body: request.framing.kind === 'none' ? undefined : exchange.body,
      },
      {
        informational: (head) => relayInformational(exchange, head),
        response: (response) =>
          relayResponse(exchange, response, () =>
            options.onResult?.({
              destination: destination.spiffeId,
              status: response.head.status,
              reusedConnection: response.reusedConnection,
              durationMs: performance.now() - started,
            }),
          ),
        error: (error) =>
          error.failure === 'timeout'
            ? fail(exchange, 504, 'upstream timed out', destination.spiffeId)
            : fail(exchange, 502, `upstream failed: ${error.message}`, destination.spiffeId),
      },
    );
    exchange.onAbort(() => upstream.abort());
  };

  // One port, both protocols: HTTP/1.1 here, h2c (gRPC clients) in http2-outbound.ts.
  const http1 = createHttp1Server({ handle, headersTimeoutMs: 15_000, idleTimeoutMs: 60_000 });
  const h2 = createHttp2Outbound({
    tls: () => material,
    trustDomains: options.trustDomains,
    resolve: options.resolve,
    onResult: options.onResult,
  });
  const front = createPlaintextFront({
    http1: (socket) => http1.serve(socket),
    http2: h2.server,
    sniffTimeoutMs: 15_000,
  });
  const server = front.server;

  return {
    server,
    listen: (port, host = '127.0.0.1') => listenOn(server, port, host),
    rotate: (next) => {
      material = next;
      context = createSecureContext(secureContextOptions(material));
      h2.rotate();
      // New pools carry the new SVID; the old ones finish their exchanges and close.
      for (const pool of pools.values()) pool.retire();
      pools.clear();
    },
    openConnections: () => [...pools.values()].reduce((open, pool) => open + pool.openConnections, 0),
    close: () =>
      new Promise((resolve) => {
        options.outOfMesh?.close();
        for (const pool of pools.values()) pool.close();
        h2.close();
        http1.destroyAll();
        front.destroyAll();
        server.close(() => resolve());
      }),
  };
}
