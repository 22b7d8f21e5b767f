import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies } from '../lib/policy/index.ts';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createAdminServer } from './admin.ts';
import { createAppForwarder, type DecisionRecord } from './app-forwarder.ts';
import { createInboundPipeline } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';
import { createInboundListener, type InboundListener } from './listener.ts';
import { createSidecarMetrics } from './metrics.ts';

let ca: TestCa;
let web: PemPair;
let ops: PemPair;
let app: Server;
let listener: InboundListener;
let admin: Server;
let port: number;
let adminPort: number;
const appSaw: { url: string; headers: Record<string, unknown> }[] = [];
const records: DecisionRecord[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  const orders = await ca.issue({
    subject: 'CN=o',
    uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
    usage: 'both',
  });
  web = await ca.issue({ subject: 'CN=w', uris: ['spiffe://cluster.local/ns/shop/sa/web'], usage: 'both' });
  ops = await ca.issue({ subject: 'CN=x', uris: ['spiffe://cluster.local/ns/ops/sa/tool'], usage: 'both' });

  app = createServer((req, res) => {
    appSaw.push({ url: req.url ?? '', headers: req.headers });
    res.end('from app');
  });
  const appPort = await new Promise<number>((resolve) =>
    app.listen(0, '127.0.0.1', () => resolve((app.address() as { port: number }).port)),
  );

  const { index } = compilePolicies([
    {
      metadata: { name: 'orders', namespace: 'shop' },
      spec: {
        action: 'ALLOW',
        rules: [{ name: 'shop-reads', from: [{ namespaces: ['shop'] }], to: [{ methods: ['GET'] }] }],
      },
    },
  ]);
  const view = index.forWorkload({ namespace: 'shop', labels: {} });
  const registry = new Registry();
  const metrics = createSidecarMetrics(registry);
  const forwarder = createAppForwarder({
    pipeline: createInboundPipeline({
      policy: () => view,
      normalizePath,
      validatorFor: (issuers) => createJwtValidator(issuers),
    }),
    appPort,
    onDecision: (record) => {
      records.push(record);
      metrics.record(record);
    },
  });
  listener = createInboundListener({
    tls: { certChainPem: orders.certPem, keyPem: orders.keyPem, bundlePem: ca.certPem },
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => 'STRICT',
    handle: forwarder.handle,
  });
  port = await listener.listen(0, '127.0.0.1');
  admin = createAdminServer(registry, { notReadyReason: () => undefined });
  adminPort = await new Promise<number>((resolve) =>
    admin.listen(0, '127.0.0.1', () => resolve((admin.address() as { port: number }).port)),
  );
});

afterAll(async () => {
  await listener.close();
  app.close();
  admin.close();
});

function call(client: PemPair, method: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { host: 'orders.shop', ...headers },
        cert: client.certPem,
        key: client.keyPem,
        ca: ca.certPem,
        agent: false,
        checkServerIdentity: () => undefined,
      },
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

describe('inbound sidecar path to the app', () => {
  it('forwards an allowed call with the normalized path and verified headers only', async () => {
    appSaw.length = 0;
    const answer = await call(web, 'GET', '/a//b/./c?q=1', {
      'x-lanyard-peer-id': 'spiffe://cluster.local/ns/ops/sa/x',
    });
    expect(answer).toEqual({ status: 200, body: 'from app' });
    expect(appSaw).toHaveLength(1);
    expect(appSaw[0]!.url).toBe('/a/b/c?q=1');
    expect(appSaw[0]!.headers['x-lanyard-peer-id']).toBe('spiffe://cluster.local/ns/shop/sa/web');
  });

  it('denies a caller from another namespace without reaching the app, and records why', async () => {
    appSaw.length = 0;
    records.length = 0;
    const answer = await call(ops, 'GET', '/orders');
    expect(answer.status).toBe(403);
    expect(appSaw).toHaveLength(0);
    expect(records).toEqual([
      expect.objectContaining({
        peer: 'spiffe://cluster.local/ns/ops/sa/tool',
        decision: 'DENY',
        reason: 'NO_ALLOW_MATCH',
        status: 403,
        path: '/orders',
      }),
    ]);
  });

  it('counts decisions per policy and rule on /metrics', async () => {
    await call(web, 'GET', '/x');
    const text = await new Promise<string>((resolve) => {
      void import('node:http').then(({ get }) =>
        get(`http://127.0.0.1:${adminPort}/metrics`, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve(body));
        }),
      );
    });
    expect(text).toMatch(
      /lanyard_sidecar_decisions_total\{decision="ALLOW",reason="ALLOW_RULE",policy="shop\/orders",rule="shop-reads",status="200"\} [1-9]/,
    );
    expect(text).toMatch(/lanyard_sidecar_decisions_total\{decision="DENY",reason="NO_ALLOW_MATCH"/);
  });
});
