// The outbound proxy: the app speaks plain HTTP to it (directly, or redirected by iptables);
// it routes by the Host header to the destination workload's sidecar over mTLS, checks that
// the server presents exactly the SPIFFE ID expected for that destination, and reuses
// connections. The user's Authorization header travels on unchanged; identity headers the
// app may have copied from an inbound request are dropped (the next hop sets its own).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, request } from 'node:https';
import type { Server } from 'node:net';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { verifyPeer } from '../lib/peer.ts';
import { FOREIGN_IDENTITY_HEADERS, HOP_BY_HOP_HEADERS, RESERVED_PREFIX } from './headers.ts';
import { createPlaintextFront, http1HeaderDeadline } from './http2-front.ts';
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

function outgoingHeaders(incoming: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const connectionListed = new Set(
    String(incoming.headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase()),
  );
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || connectionListed.has(name)) continue;
    if (name.startsWith(RESERVED_PREFIX) || FOREIGN_IDENTITY_HEADERS.includes(name)) continue;
    headers[name] = value;
  }
  return headers;
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
  // One parsed context per SVID, shared by every destination's agent: a new connection then
  // does not parse the key, chain and bundle again.
  let context: SecureContext = createSecureContext(secureContextOptions(material));
  const agents = new Map<string, Agent>();
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 30_000;

  const agentFor = (destination: Destination): Agent => {
    let agent = agents.get(destination.spiffeId);
    if (!agent) {
      agent = new Agent({
        keepAlive: true,
        maxSockets: options.maxSocketsPerDestination ?? 64,
        secureContext: context,
      });
      agents.set(destination.spiffeId, agent);
    }
    return agent;
  };

  const fail = (res: ServerResponse, status: number, message: string, destination?: string) => {
    options.onResult?.({ destination, status, error: message });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-lanyard-error': message });
    res.end(`${message}\n`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const target = parseHost(req.headers.host);
    const started = performance.now();
    if (!target) return fail(res, 400, 'missing or malformed Host header');
    const destination = options.resolve(target.host, target.port);
    if (!destination) return fail(res, 502, `no mesh route to ${target.host}:${target.port}`);
    if (isOutOfMesh(destination)) {
      if (!options.outOfMesh) return fail(res, 502, 'out-of-mesh routes are not enabled');
      return options.outOfMesh.forward(req, res, destination, outgoingHeaders(req));
    }

    const upstream = request({
      host: destination.address,
      port: destination.port,
      method: req.method,
      path: req.url,
      headers: outgoingHeaders(req),
      agent: agentFor(destination),
      timeout: upstreamTimeoutMs,
      // The server's identity is its SPIFFE ID, not a DNS name.
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const verdict = verifyPeer(new X509Certificate(cert.raw), {
          trustDomains: options.trustDomains(),
          role: 'server',
          expectedId: destination.spiffeId,
        });
        return verdict.ok ? undefined : new Error(verdict.reason);
      },
    });
    // Small TLS records must leave at once, not wait for the peer's delayed ACK (Nagle).
    upstream.setNoDelay(true);
    upstream.on('response', (answer) => {
      const headers = { ...answer.headers };
      for (const name of HOP_BY_HOP_HEADERS) delete headers[name];
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
      answer.on('end', () =>
        options.onResult?.({
          destination: destination.spiffeId,
          status: answer.statusCode ?? 502,
          reusedConnection: upstream.reusedSocket,
          durationMs: performance.now() - started,
        }),
      );
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (error) =>
      fail(res, 502, `upstream failed: ${error.message}`, destination.spiffeId),
    );
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  };

  // One port, both protocols: HTTP/1.1 here, h2c (gRPC clients) in http2-outbound.ts. The
  // front hands connections over, so the header deadline and idle timeout are set here.
  const http1 = createServer({ maxHeaderSize: 32 * 1024, keepAliveTimeout: 60_000 }, handle);
  http1.setTimeout(60_000);
  http1.on('connection', http1HeaderDeadline(http1, 15_000));
  const h2 = createHttp2Outbound({
    tls: () => material,
    trustDomains: options.trustDomains,
    resolve: options.resolve,
    onResult: options.onResult,
  });
  const front = createPlaintextFront({ http1, http2: h2.server, sniffTimeoutMs: 15_000 });
  const server = front.server;

  return {
    server,
    listen: (port, host = '127.0.0.1') => listenOn(server, port, host),
    rotate: (next) => {
      material = next;
      context = createSecureContext(secureContextOptions(material));
      h2.rotate();
      // New agents carry the new SVID; the old ones finish their requests and are closed.
      const old = [...agents.values()];
      agents.clear();
      setTimeout(() => old.forEach((agent) => agent.destroy()), upstreamTimeoutMs).unref();
    },
    openConnections: () =>
      [...agents.values()]
        .flatMap((agent) => [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)])
        .reduce((open, sockets) => open + (sockets?.length ?? 0), 0),
    close: () =>
      new Promise((resolve) => {
        options.outOfMesh?.close();
        for (const agent of agents.values()) agent.destroy();
        h2.close();
        front.destroyAll();
        server.close(() => resolve());
      }),
  };
}
