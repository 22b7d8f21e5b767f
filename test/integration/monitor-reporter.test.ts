// The sidecar's EventReporter against the real EventService over gRPC and TLS: bounded buffer
// with drops counted and reported, delivery once the control plane is up, reconnection after
// the control plane goes away, and attribution to the sidecar's SVID.
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:net';
import { experimental, Server } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MutableCertificateProvider } from '../../ca/tls-provider.ts';
import type { MonitorEvent } from '../../controller/monitor/event.ts';
import { EventService } from '../../controller/monitor/ingest.ts';
import { createMonitorMetrics } from '../../controller/monitor/metrics.ts';
import type { DecisionRecord } from '../../sidecar/app-forwarder.ts';
import { EventReporter, toEvent, tokenId } from '../../sidecar/event-reporter.ts';
import { Backoff } from '../../lib/backoff.ts';
import { eventually } from '../helpers/eventually.ts';
import { createTestCa, type PemPair, type TestCa } from '../helpers/pki.ts';

const CONTROLLER = 'spiffe://cluster.local/ns/lanyard-system/sa/lanyard-controller';
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
let ca: TestCa;
let serving: PemPair;
let sidecar: PemPair;
let port: number;
const processed: MonitorEvent[] = [];
const registry = new Registry();
const metrics = createMonitorMetrics(registry);

const settle = (check: () => void, timeoutMs = 30_000) =>
  eventually(
    () => {
      check();
      return true;
    },
    'the expected state',
    timeoutMs,
  );

/** The control plane's event service on a fixed port, so that it can go away and come back. */
async function startControlPlane(): Promise<Server> {
  const service = new EventService({
    trustDomain: 'cluster.local',
    signers: () => [new X509Certificate(ca.certPem)],
    process: (event) => processed.push(event),
    metrics,
  });
  const server = new Server();
  server.addService(service.definition, service.implementation());
  const provider = new MutableCertificateProvider();
  provider.setCa(ca.certPem);
  provider.setIdentity(serving.certPem, serving.keyPem);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${port}`,
      experimental.createCertificateProviderServerCredentials(provider, provider, false),
      (error) => (error ? reject(error) : resolve()),
    ),
  );
  return server;
}

const expired = (i: number): DecisionRecord => ({
  peer: 'spiffe://cluster.local/ns/shop/sa/web',
  user: undefined,
  method: 'GET',
  path: `/orders/${i}`,
  status: 401,
  decision: 'DENY',
  reason: 'ERR_JWT_EXPIRED',
  latencyMs: 1,
});

beforeAll(async () => {
  ca = await createTestCa();
  serving = await ca.issue({ subject: 'CN=cp', uris: [CONTROLLER], usage: 'both' });
  sidecar = await ca.issue({ subject: 'CN=w', uris: [ORDERS], usage: 'both' });
  const probe = createServer();
  port = await new Promise<number>((resolve) =>
    probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
  );
  await new Promise((resolve) => probe.close(resolve));
});

describe('EventReporter', () => {
  let reporter: EventReporter;
  let server: Server | undefined;

  afterAll(() => {
    reporter?.stop();
    server?.forceShutdown();
  });

  it('buffers while the control plane is down, drops beyond the bound, and delivers with the drop count once it is up', async () => {
    reporter = new EventReporter({
      address: `127.0.0.1:${port}`,
      serverId: CONTROLLER,
      trustDomain: 'cluster.local',
      tls: () => ({ certChainPem: sidecar.certPem, keyPem: sidecar.keyPem, bundlePem: ca.certPem }),
      maxBuffer: 30,
      flushEveryMs: 50,
      backoff: new Backoff(20, 200),
    });
    reporter.start();
    for (let i = 0; i < 100; i += 1)
      reporter.record(expired(i), { source: '192.0.2.66', tokenId: `sha256:${i}` });
    expect([reporter.buffered, reporter.stats.dropped]).toEqual([30, 70]);

    server = await startControlPlane();
    await settle(() => expect(processed).toHaveLength(30));
    expect(
      processed.every(
        (e) => e.reporter === ORDERS && e.tokenFailure === 'EXPIRED' && e.source === '192.0.2.66',
      ),
    ).toBe(true);
    expect(processed.map((e) => e.path)).toEqual(Array.from({ length: 30 }, (_, i) => `/orders/${i}`));
    await settle(() => expect(reporter.stats.accepted).toBe(30));
    expect(await registry.metrics()).toMatch(/lanyard_monitor_events_dropped_total\{queue="sidecar"\} 70/);
  });

  it('reconnects after the control plane goes away and delivers what was recorded meanwhile', async () => {
    server!.forceShutdown();
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let i = 100; i < 110; i += 1) reporter.record(expired(i));
    server = await startControlPlane();
    await settle(() => expect(processed.map((e) => e.path)).toContain('/orders/109'));
    expect(
      processed.filter((e) => e.path >= '/orders/100' && e.path.length === '/orders/100'.length),
    ).toHaveLength(10);
  });
});

describe('toEvent and tokenId', () => {
  it('maps token error codes to failure kinds and never carries the token', () => {
    const token = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
    const id = tokenId(token);
    expect(id).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(id).not.toContain(token.slice(0, 10));
    expect(tokenId(token, 'jti-123')).toBe('jti-123');
    expect(tokenId(token, token)).toBe(id);
    expect(tokenId(token, 42)).toBe(id);
    expect(toEvent(expired(1), { tokenId: id }, 5)).toMatchObject({
      tokenFailure: 'EXPIRED',
      tokenId: id,
      timeUnixMs: 5,
    });
    expect(toEvent({ ...expired(1), reason: 'ERR_JWT_SIGNATURE' }, {}, 5).tokenFailure).toBe('BAD_SIGNATURE');
    expect(toEvent({ ...expired(1), reason: 'NO_ALLOW_MATCH' }, {}, 5).tokenFailure).toBe(
      'TOKEN_FAILURE_UNSPECIFIED',
    );
  });
});
