// Outbound calls to destinations outside the mesh (a route with `outOfMesh`): no peer sidecar
// and no SPIFFE pinning, so the sidecar authenticates the workload with a JWT-SVID minted for
// the route's audience, over TLS checked against the public roots (or plain HTTP to a loopback
// address, only when the route says so, for tests). The app's own Authorization header is
// refused rather than replaced or forwarded: one request, one credential, chosen by the route.
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import { HOP_BY_HOP_HEADERS } from './headers.ts';
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
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    route: OutOfMeshRoute,
    headers: Record<string, string | string[]>,
  ): void;
  /** Open sockets to out-of-mesh destinations (in use or idle). */
  openConnections(): number;
  close(): void;
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

  const answer = (res: ServerResponse, result: OutOfMeshResult) => {
    options.onResult?.(result);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const message = result.error ?? 'error';
    res.writeHead(result.status, { 'content-type': 'text/plain; charset=utf-8', 'x-lanyard-error': message });
    res.end(`${message}\n`);
  };

  return {
    forward(req, res, route, headers) {
      const started = performance.now();
      const { audience, host, port, transport } = route.outOfMesh;
      const destination = `${host}:${port}`;
      if (headers.authorization !== undefined) {
        return answer(res, {
          destination,
          status: 400,
          error: 'this route authenticates with a service token; the request may not carry Authorization',
        });
      }
      const tls = transport === 'tls';
      if (!tls && !isLoopbackAddress(host)) {
        return answer(res, { destination, status: 502, error: 'plain HTTP is allowed to loopback only' });
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
            method: req.method,
            path: req.url,
            headers: outgoing,
            agent: agentFor(`${transport}:${destination}`, tls),
            timeout: timeoutMs,
            ...(tls && isIP(host) === 0 ? { servername: host } : {}),
          });
          upstream.on('response', (reply) => {
            const replyHeaders = { ...reply.headers };
            for (const name of HOP_BY_HOP_HEADERS) delete replyHeaders[name];
            res.writeHead(reply.statusCode ?? 502, replyHeaders);
            reply.pipe(res);
            reply.on('end', () =>
              options.onResult?.({
                destination,
                status: reply.statusCode ?? 502,
                reusedConnection: upstream.reusedSocket,
                durationMs: performance.now() - started,
              }),
            );
          });
          upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
          upstream.on('error', (error) =>
            answer(res, { destination, status: 502, error: `upstream failed: ${error.message}` }),
          );
          req.on('aborted', () => upstream.destroy());
          req.pipe(upstream);
        },
        // The cause stays out of the answer: it may come from the CA and is for logs only.
        () => answer(res, { destination, status: 503, error: 'no service token available for this route' }),
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
