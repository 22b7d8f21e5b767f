// Blocks through both inbound adapters over real mTLS: an HTTP/1.1 request and a gRPC call over
// HTTP/2 from a blocked principal are refused (403, PERMISSION_DENIED) and recorded as BLOCKED
// with the block and the caller's address; others reach the app.
import { createServer, type Server } from 'node:http';
import { connect as connectHttp2, createServer as createH2cServer, type Http2Server } from 'node:http2';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../lib/clock.ts';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies } from '../lib/policy/index.ts';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createAppForwarder, type DecisionRecord } from './app-forwarder.ts';
import { BlockSet } from './block-set.ts';
import { createHttp2Forwarder } from './http2-forwarder.ts';
import { createInboundPipeline } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';
import { createInboundListener, type InboundListener } from './listener.ts';
import { decisionLogJson } from './decision-log.ts';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const REPORTS = 'spiffe://cluster.local/ns/shop/sa/reports';
let ca: TestCa;
let web: PemPair;
let reports: PemPair;
let app: Server;
let h2App: Http2Server;
let listener: InboundListener;
let h2Listener: InboundListener;
let port: number;
let h2Port: number;
const records: DecisionRecord[] = [];
const blocks = new BlockSet(systemClock);

beforeAll(async () => {
  ca = await createTestCa();
  const orders = await ca.issue({
    subject: 'CN=o',
    uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
    usage: 'both',
  });
  web = await ca.issue({ subject: 'CN=w', uris: [WEB], usage: 'both' });
  reports = await ca.issue({ subject: 'CN=r', uris: [REPORTS], usage: 'both' });
  app = createServer((_req, res) => res.end('from app'));
  const appPort = await new Promise<number>((resolve) =>
    app.listen(0, '127.0.0.1', () => resolve((app.address() as { port: number }).port)),
  );
  h2App = createH2cServer();
  h2App.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end();
  });
  const h2AppPort = await new Promise<number>((resolve) =>
    h2App.listen(0, '127.0.0.1', () => resolve((h2App.address() as { port: number }).port)),
  );
  const { index } = compilePolicies([
    {
      metadata: { name: 'orders', namespace: 'shop' },
      spec: { action: 'ALLOW', rules: [{ name: 'shop', from: [{ namespaces: ['shop'] }] }] },
    },
  ]);
  const view = index.forWorkload({ namespace: 'shop', labels: {} });
  const pipeline = createInboundPipeline({
    policy: () => view,
    normalizePath,
    validatorFor: (issuers) => createJwtValidator(issuers),
    blocks,
  });
  const onDecision = (record: DecisionRecord) => records.push(record);
  const tls = { certChainPem: orders.certPem, keyPem: orders.keyPem, bundlePem: ca.certPem };
  listener = createInboundListener({
    tls,
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => 'STRICT',
    handle: createAppForwarder({ pipeline, appPort, onDecision }).handle,
  });
  port = await listener.listen(0, '127.0.0.1');
  h2Listener = createInboundListener({
    tls,
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => 'STRICT',
    handle: () => undefined,
    handleStream: createHttp2Forwarder({ pipeline, appPort: h2AppPort, onDecision }).handleStream,
  });
  h2Port = await h2Listener.listen(0, '127.0.0.1');
  blocks.replace({
    version: 'v1',
    sentMs: Date.now(),
    blocks: [{ id: 'blk-web', type: 'principal', value: WEB, expiresMs: Date.now() + 3600_000 }],
  });
});

afterAll(async () => {
  await Promise.all([listener.close(), h2Listener.close()]);
  app.close();
  h2App.close();
});

function http1(client: PemPair) {
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/orders/1',
        ca: ca.certPem,
        cert: client.certPem,
        key: client.keyPem,
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function grpcCall(client: PemPair) {
  return new Promise<string | undefined>((resolve, reject) => {
    const session = connectHttp2(`https://127.0.0.1:${h2Port}`, {
      ca: ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
      checkServerIdentity: () => undefined,
    });
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/shop.Orders/Get',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status: string | undefined;
    stream.on('response', (headers) => (status = headers['grpc-status'] as string | undefined));
    stream.on(
      'trailers',
      (trailers: Record<string, string | undefined>) => (status = trailers['grpc-status']),
    );
    stream.on('close', () => {
      session.close();
      resolve(status);
    });
    stream.resume();
    stream.end(Buffer.alloc(5));
  });
}

const isLoopback = (address: string | undefined) => address === '127.0.0.1' || address === '::ffff:127.0.0.1';

describe('blocks through the HTTP/1.1 and HTTP/2 adapters', () => {
  it('refuses an HTTP/1.1 request of a blocked principal with 403, recorded as BLOCKED', async () => {
    records.length = 0;
    expect(await http1(web)).toBe(403);
    expect(await http1(reports)).toBe(200);
    const [blocked, allowed] = records;
    expect(blocked).toMatchObject({
      peer: WEB,
      decision: 'DENY',
      status: 403,
      reason: 'BLOCKED',
      block: { id: 'blk-web', type: 'principal' },
    });
    expect(blocked!.policy).toBeUndefined();
    expect(isLoopback(blocked!.source)).toBe(true);
    expect(allowed).toMatchObject({ peer: REPORTS, decision: 'ALLOW', status: 200 });
    expect(allowed!.block).toBeUndefined();
    expect(isLoopback(allowed!.source)).toBe(true);
    // The log line names the block and the caller's address.
    expect(JSON.parse(`{${decisionLogJson(blocked!)}}`)).toMatchObject({
      reason: 'BLOCKED',
      source: blocked!.source,
      block: { id: 'blk-web', type: 'principal' },
    });
  });

  it('refuses a gRPC call of a blocked principal with PERMISSION_DENIED, recorded as BLOCKED', async () => {
    records.length = 0;
    expect(await grpcCall(web)).toBe('7');
    expect(await grpcCall(reports)).toBe('0');
    const [blocked, allowed] = records;
    expect(blocked).toMatchObject({
      peer: WEB,
      reason: 'BLOCKED',
      block: { id: 'blk-web', type: 'principal' },
    });
    expect(isLoopback(blocked!.source)).toBe(true);
    expect(allowed).toMatchObject({ peer: REPORTS, decision: 'ALLOW' });
    expect(isLoopback(allowed!.source)).toBe(true);
  });
});
