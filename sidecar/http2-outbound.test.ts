// The outbound proxy's HTTP/2 side over real sockets: h2c from the app, routed by :authority,
// carried over one pooled mTLS HTTP/2 session per destination with SPIFFE ID pinning.
import {
  connect,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createInboundListener, type InboundListener, type TlsMaterial } from './listener.ts';
import { createOutboundProxy, type OutboundProxy } from './outbound.ts';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
let ca: TestCa;
let orders: PemPair;
let web: PemPair;
let inbound: InboundListener | undefined;
let outbound: OutboundProxy | undefined;
const sessions: ClientHttp2Session[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  orders = await ca.issue({ subject: 'CN=orders', uris: [ORDERS], usage: 'both' });
  web = await ca.issue({ subject: 'CN=web', uris: [WEB], usage: 'both' });
}, 60_000);

afterEach(async () => {
  for (const session of sessions.splice(0)) session.destroy();
  await outbound?.close();
  await inbound?.close(1000);
  inbound = outbound = undefined;
});

const material = (pair: PemPair): TlsMaterial => ({
  certChainPem: pair.certPem,
  keyPem: pair.keyPem,
  bundlePem: ca.certPem,
});

/** An inbound listener that answers every stream with what it saw, and the proxy in front. */
async function mesh(options: { expectedId?: string; inboundIdleMs?: number } = {}) {
  let connections = 0;
  const peers: string[] = [];
  inbound = createInboundListener({
    tls: material(orders),
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => 'STRICT',
    handle: (exchange) => exchange.respond(200, [], 'http1'),
    handleStream: (stream, headers, _raw, peer) => {
      const id = peer?.ok ? peer.id.toString() : '';
      peers.push(id);
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(
        JSON.stringify({
          peer: id,
          path: headers[':path'],
          authority: headers[':authority'],
          authorization: headers.authorization ?? null,
          spoofed: headers['x-lanyard-user'] ?? null,
          xfcc: headers['x-forwarded-client-cert'] ?? null,
        }),
      );
    },
    ...(options.inboundIdleMs === undefined ? {} : { idleTimeoutMs: options.inboundIdleMs }),
  });
  inbound.server.on('connection', () => (connections += 1));
  const inboundPort = await inbound.listen(0, '127.0.0.1');
  outbound = createOutboundProxy({
    tls: material(web),
    trustDomains: () => new Set(['cluster.local']),
    resolve: (host, port) =>
      host === 'orders.shop' && port === 80
        ? { address: '127.0.0.1', port: inboundPort, spiffeId: options.expectedId ?? ORDERS }
        : undefined,
  });
  const port = await outbound.listen(0, '127.0.0.1');
  return { port, connections: () => connections, peers };
}

function h2c(port: number): ClientHttp2Session {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  sessions.push(session);
  return session;
}

function call(session: ClientHttp2Session, headers: OutgoingHttpHeaders = {}) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const stream = session.request({ ':path': '/orders/1?x=1', ':authority': 'orders.shop', ...headers });
    let status = 0;
    let received: IncomingHttpHeaders = {};
    let body = '';
    stream.on('response', (response) => {
      status = Number(response[':status']);
      received = response;
    });
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('end', () => resolve({ status, headers: received, body }));
    stream.on('error', reject);
    stream.end();
  });
}

describe('outbound proxy over HTTP/2', { timeout: 60_000 }, () => {
  it('carries h2c streams over mTLS as the workload identity, with the user token and without spoofed headers', async () => {
    const { port } = await mesh();
    const answer = await call(h2c(port), {
      authorization: 'Bearer user-token',
      'x-lanyard-user': 'admin',
      'x-forwarded-client-cert': 'By=spiffe://evil',
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      peer: WEB,
      path: '/orders/1?x=1',
      authority: 'orders.shop',
      authorization: 'Bearer user-token',
      spoofed: null,
      xfcc: null,
    });
  });

  it('multiplexes many concurrent streams over one mTLS connection', async () => {
    const { port, connections, peers } = await mesh();
    const app = h2c(port);
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(app)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    expect(peers).toHaveLength(20);
    expect(connections()).toBe(1);
  });

  it('refuses a server that presents another SPIFFE ID than expected, as a gRPC status for gRPC', async () => {
    const { port } = await mesh({ expectedId: 'spiffe://cluster.local/ns/shop/sa/payments' });
    const plain = await call(h2c(port));
    expect(plain.status).toBe(502);
    expect(plain.headers['x-lanyard-error']).toMatch(
      /expected spiffe:\/\/cluster\.local\/ns\/shop\/sa\/payments/,
    );
    const grpc = await call(h2c(port), { 'content-type': 'application/grpc', ':method': 'POST' });
    expect(grpc.status).toBe(200);
    expect(grpc.headers['grpc-status']).toBe('14');
  });

  it('answers 502 for an :authority with no mesh route and 400 for a malformed one', async () => {
    const { port } = await mesh();
    const app = h2c(port);
    expect((await call(app, { ':authority': 'unknown.example' })).status).toBe(502);
    expect((await call(app, { ':authority': 'orders.shop:99999' })).status).toBe(400);
  });

  it('opens a new session with the new SVID after rotation', async () => {
    const { port, connections } = await mesh();
    const app = h2c(port);
    expect((await call(app)).status).toBe(200);
    const rotated = await ca.issue({ subject: 'CN=web', uris: [WEB], usage: 'both' });
    outbound!.rotate(material(rotated));
    expect((await call(app)).status).toBe(200);
    expect(connections()).toBe(2);
  });

  it('re-establishes the session after the destination closes it', async () => {
    const { port, connections } = await mesh({ inboundIdleMs: 200 });
    const app = h2c(port);
    expect((await call(app)).status).toBe(200);
    // The inbound side closes the idle session; the next stream needs a new one.
    const deadline = Date.now() + 15_000;
    while (connections() === 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await call(app)).status).toBe(200);
    }
    expect(connections()).toBe(2);
  });
});
