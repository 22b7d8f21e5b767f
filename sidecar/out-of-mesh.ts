// Outbound calls to destinations outside the mesh (a route with `outOfMesh`): no peer sidecar
// and no SPIFFE pinning, so the sidecar authenticates the workload with a JWT-SVID minted for
// the route's audience, over TLS checked against the public roots (or plain HTTP to a loopback
// address, only when the route says so, for tests). The app's own Authorization header is
// refused rather than replaced or forwarded: one request, one credential, chosen by the route.
// Not the hot path: the upstream client stays node:http/node:https (normal hostname checks);
// the app side is the sidecar's HTTP/1.1 engine.
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import { fromRawHeaders, type HeaderList } from './headers.ts';
import { CHUNKED, type Http1Exchange } from './http1/index.ts';
import { withoutHopByHop } from './http1/relay.ts';
import type { Destination } from './outbound.ts';
import type { ServiceTokenCache } from './service-jwt.ts';

export interface OutOfMeshRoute {
  readonly outOfMesh: {
    /** The JWT-SVID's `aud`. */
    readonly audience: string;
    /** Where to connect: a DNS name (the TLS name checked) or an IP address. */
    readonly host: string;
    readonly port: number;
    /** 'tls' (the default), or plain HTTP to a loopback IP address for tests. */
    readonly transport: 'tls' | 'http-loopback';
  };
}

export function isOutOfMesh(route: object): route is OutOfMeshRoute {
  return 'outOfMesh' in route;
}

function invalid(message: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message);
}

/** True for the addresses a plain-HTTP route may name: 127.0.0.0/8 and ::1, never a DNS name. */
export function isLoopbackAddress(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  return isIP(host) === 6 && (host === '::1' || host === '0:0:0:0:0:0:0:1');
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** {"outOfMesh": {"audience", "host"?, "port"?, "transport"?}}: host and port default to the key's. */
export function parseOutOfMeshRoute(key: string, value: unknown): OutOfMeshRoute {
  const given = value as Record<string, unknown> | null;
  if (!given || typeof given !== 'object' || Array.isArray(given))
    invalid(`route "${key}": outOfMesh must be an object`);
  const extra = Object.keys(given).filter(
    (name) => !['audience', 'host', 'port', 'transport'].includes(name),
  );
  if (extra.length > 0) invalid(`route "${key}": outOfMesh has unknown fields ${extra.join(', ')}`);
  const { audience, transport = 'tls' } = given;
  const host = given.host ?? key.replace(/:\d+$/, '');
  const port = given.port ?? 443;
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > 512 || /\s/.test(audience)) {
    invalid(`route "${key}": outOfMesh.audience must be 1 to 512 characters without spaces`);
  }
  if (transport !== 'tls' && transport !== 'http-loopback') {
    invalid(`route "${key}": outOfMesh.transport must be "tls" or "http-loopback"`);
  }
  if (typeof host !== 'string' || !(DNS_NAME.test(host) || isIP(host) !== 0)) {
    invalid(`route "${key}": outOfMesh.host must be a lowercase DNS name or an IP address`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    invalid(`route "${key}": outOfMesh.port must be a port (1-65535)`);
  }
  // Plain HTTP would hand the service token to anyone on the path: loopback test servers only.
  if (transport === 'http-loopback' && !isLoopbackAddress(host)) {
    invalid(`route "${key}": transport "http-loopback" needs a loopback IP address as host`);
  }
  return { outOfMesh: { audience, host, port, transport } };
}

export interface OutOfMeshResult {
  destination: string;
  status: number;
  error?: string;
  reusedConnection?: boolean;
  durationMs?: number;
}

export interface OutOfMeshOptions {
  tokens: ServiceTokenCache;
  /** Bound on a whole upstream exchange. Default 30 s. */
  upstreamTimeoutMs?: number;
  maxSocketsPerDestination?: number;
  /** Roots for TLS destinations instead of Node's public root store: for tests only. */
  caForTests?: string;
  onResult?: (result: OutOfMeshResult) => void;
}

export interface OutOfMeshForwarder {
  /** `headers` are the app's request headers with hop-by-hop and identity headers removed. */
  forward(exchange: Http1Exchange, route: OutOfMeshRoute, headers: HeaderList): void;
  /** Open sockets to out-of-mesh destinations (in use or idle). */
  openConnections(): number;
  close(): void;
}

/** A header list as node:http takes it: lowercase names, repeated fields as arrays. */
function toNodeHeaders(headers: HeaderList): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

/** Streams the app's request body into the upstream request, with backpressure. */
function sendBody(exchange: Http1Exchange, upstream: ClientRequest): void {
  if (exchange.request.framing.kind === 'none') return void upstream.end();
  const { body } = exchange;
  body.read({
    data: (chunk) => {
      const more = upstream.write(chunk);
      if (!more) upstream.once('drain', () => body.resume());
      return more;
    },
    end: () => upstream.end(),
    abort: () => upstream.destroy(),
  });
}

/** Writes the destination's answer to the app, with backpressure; a broken one cuts the app off. */
function relayReply(exchange: Http1Exchange, reply: IncomingMessage, onEnd: () => void): void {
  const length = reply.headers['content-length'];
  const writer = exchange.writeHead(
    reply.statusCode ?? 502,
    withoutHopByHop(fromRawHeaders(reply.rawHeaders)),
    length === undefined ? CHUNKED : { kind: 'length', length: Number(length) },
  );
  reply.on('data', (chunk: Buffer) => {
    if (!writer.write(chunk)) {
      reply.pause();
      writer.onDrain(() => reply.resume());
    }
  });
  reply.on('end', () => {
    writer.end();
    onEnd();
  });
  reply.on('aborted', () => exchange.destroy());
  reply.on('error', () => exchange.destroy());
}

export function createOutOfMeshForwarder(options: OutOfMeshOptions): OutOfMeshForwarder {
  const agents = new Map<string, HttpAgent>();
  const timeoutMs = options.upstreamTimeoutMs ?? 30_000;

  const agentFor = (key: string, tls: boolean): HttpAgent => {
    let agent = agents.get(key);
    if (!agent) {
      const settings = { keepAlive: true, maxSockets: options.maxSocketsPerDestination ?? 64 };
      agent = tls
        ? new HttpsAgent({
            ...settings,
            minVersion: 'TLSv1.2',
            ...(options.caForTests ? { ca: options.caForTests } : {}),
          })
        : new HttpAgent(settings);
      agents.set(key, agent);
    }
    return agent;
  };

  const answer = (exchange: Http1Exchange, result: OutOfMeshResult) => {
    options.onResult?.(result);
    if (exchange.headSent) return exchange.destroy();
    const message = (result.error ?? 'error').replace(/[^\x20-\x7e]/g, ' ');
    exchange.respond(result.status, [['x-lanyard-error', message]], `${message}\n`);
  };

  return {
    forward(exchange, route, fields) {
      const headers = toNodeHeaders(fields);
      const started = performance.now();
      const { audience, host, port, transport } = route.outOfMesh;
      const destination = `${host}:${port}`;
      if (headers.authorization !== undefined) {
        return answer(exchange, {
          destination,
          status: 400,
          error: 'this route authenticates with a service token; the request may not carry Authorization',
        });
      }
      const tls = transport === 'tls';
      if (!tls && !isLoopbackAddress(host)) {
        return answer(exchange, {
          destination,
          status: 502,
          error: 'plain HTTP is allowed to loopback only',
        });
      }
      options.tokens.get(audience).then(
        (token) => {
          const defaultPort = tls ? 443 : 80;
          const outgoing = {
            ...headers,
            host: port === defaultPort ? host : `${isIP(host) === 6 ? `[${host}]` : host}:${port}`,
            authorization: `Bearer ${token}`,
          };
          const send = tls ? httpsRequest : httpRequest;
          const upstream = send({
            host,
            port,
            method: exchange.request.method,
            path: exchange.request.target,
            headers: outgoing,
            agent: agentFor(`${transport}:${destination}`, tls),
            timeout: timeoutMs,
            ...(tls && isIP(host) === 0 ? { servername: host } : {}),
          });
          upstream.on('response', (reply) =>
            relayReply(exchange, reply, () =>
              options.onResult?.({
                destination,
                status: reply.statusCode ?? 502,
                reusedConnection: upstream.reusedSocket,
                durationMs: performance.now() - started,
              }),
            ),
          );
          upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
          upstream.on('error', (error) =>
            answer(exchange, { destination, status: 502, error: `upstream failed: ${error.message}` }),
          );
          exchange.onAbort(() => upstream.destroy());
          sendBody(exchange, upstream);
        },
        // The cause stays out of the answer: it may come from the CA and is for logs only.
        () =>
          answer(exchange, { destination, status: 503, error: 'no service token available for this route' }),
      );
    },
    openConnections() {
      let open = 0;
      for (const agent of agents.values()) {
        for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) {
          open += list?.length ?? 0;
        }
      }
      return open;
    },
    close() {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}

/** What a routes-file entry resolves to: a mesh destination (a sidecar) or one outside the mesh. */
export type OutboundRoute = Destination | OutOfMeshRoute;
