import { request } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createInboundListener, type InboundListener, type TlsMaterial } from './listener.ts';
import { createOutboundProxy, parseHost, type OutboundProxy } from './outbound.ts';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
let ca: TestCa;
let orders: PemPair;
let web: PemPair;
let inbound: InboundListener | undefined;
let outbound: OutboundProxy | undefined;

beforeAll(async () => {
  ca = await createTestCa();
  orders = await ca.issue({ subject: 'CN=orders', uris: [ORDERS], usage: 'both' });
  web = await ca.issue({ subject: 'CN=web', uris: ['spiffe://cluster.local/ns/shop/sa/web'], usage: 'both' });
});

afterEach(async () => {
  await outbound?.close();
  await inbound?.close();
  inbound = outbound = undefined;
});

const material = (pair: PemPair): TlsMaterial => ({
  certChainPem: pair.certPem,
  keyPem: pair.keyPem,
  bundlePem: ca.certPem,
});

async function mesh(expectedId = ORDERS) {
  let connections = 0;
  inbound = createInboundListener({
    tls: material(orders),
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => 'STRICT',
    handle: (exchange, peer) => {
      const { request } = exchange;
      const header = (name: string) =>
        request.headers.find(([field]) => field.toLowerCase() === name)?.[1] ?? null;
      exchange.respond(
        200,
        [],
        JSON.stringify({
          peer: peer?.ok ? peer.id.toString() : null,
          path: request.target,
          authorization: header('authorization'),
          spoofed: header('x-lanyard-user'),
        }),
      );
    },
  });
  inbound.server.on('connection', () => (connections += 1));
  const inboundPort = await inbound.listen(0, '127.0.0.1');
  outbound = createOutboundProxy({
    tls: material(web),
    trustDomains: () => new Set(['cluster.local']),
    resolve: (host, port) =>
      host === 'orders.shop' && port === 80
        ? { address: '127.0.0.1', port: inboundPort, spiffeId: expectedId }
        : undefined,
  });
  const port = await outbound.listen(0, '127.0.0.1');
  return { port, connections: () => connections };
}

function call(port: number, host: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/orders/1?x=1', headers: { host, ...headers } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('outbound proxy', () => {
  it('carries the call over mTLS as the workload identity, with the user token and without spoofed headers', async () => {
    const { port } = await mesh();
    const { status, body } = await call(port, 'orders.shop', {
      authorization: 'Bearer user-token',
      'x-lanyard-user': 'admin',
    });
    expect(status).toBe(200);
    expect(JSON.parse(body)).toEqual({
      peer: 'spiffe://cluster.local/ns/shop/sa/web',
      path: '/orders/1?x=1',
      authorization: 'Bearer user-token',
      spoofed: null,
    });
  });

  it('reuses one mTLS connection for successive calls', async () => {
    const { port, connections } = await mesh();
    for (let i = 0; i < 5; i += 1) expect((await call(port, 'orders.shop')).status).toBe(200);
    expect(connections()).toBe(1);
  });

  it('refuses a server that presents another SPIFFE ID than expected', async () => {
    const { port } = await mesh('spiffe://cluster.local/ns/shop/sa/payments');
    const { status, body } = await call(port, 'orders.shop');
    expect(status).toBe(502);
    expect(body).toMatch(/expected spiffe:\/\/cluster\.local\/ns\/shop\/sa\/payments/);
  });

  it('answers 502 for a host with no mesh route and 400 for a malformed Host', async () => {
    const { port } = await mesh();
    expect((await call(port, 'unknown.example')).status).toBe(502);
    expect((await call(port, 'bad host!')).status).toBe(400);
  });
});

describe('parseHost', () => {
  it.each([
    ['orders.shop', { host: 'orders.shop', port: 80 }],
    ['Orders.Shop.:8080', { host: 'orders.shop', port: 8080 }],
    ['orders.shop:0', undefined],
    ['orders.shop:99999', undefined],
    ['user@orders.shop', undefined],
    ['', undefined],
  ])('%s', (value, expected) => {
    expect(parseHost(value)).toEqual(expected);
  });
});
