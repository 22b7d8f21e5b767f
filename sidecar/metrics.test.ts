import { createServer, request, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttp1Server } from './http1/index.ts';
import { createSidecarMetrics } from './metrics.ts';
import { createOutOfMeshForwarder, type OutOfMeshRoute } from './out-of-mesh.ts';
import { DENY_RECORD } from '../test/helpers/decision-records.ts';

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  // Histograms list their _count and _bucket series under the histogram's own name.
  const values = (await registry.getMetricsAsJSON()).flatMap((metric) =>
    metric.values.map((v) => ({ ...v, name: (v as { metricName?: string }).metricName ?? metric.name })),
  );
  const found = values.find(
    (v) =>
      v.name === name &&
      Object.entries(labels).every(([key, expected]) => String(v.labels[key]) === expected),
  );
  return found?.value;
}

const deny = DENY_RECORD;

describe('sidecar metrics', () => {
  it('counts decisions by decision, reason, policy and rule, and times them', async () => {
    const registry = new Registry();
    const metrics = createSidecarMetrics(registry);
    metrics.record(deny);
    metrics.record({ ...deny, decision: 'ALLOW', reason: 'ALLOW_RULE', status: 200, rule: 'readers' });
    expect(
      await value(registry, 'lanyard_sidecar_decisions_total', {
        decision: 'DENY',
        policy: 'shop/no-admin',
        rule: 'outsiders',
        status: '403',
      }),
    ).toBe(1);
    expect(await value(registry, 'lanyard_sidecar_decision_seconds_count', { decision: 'ALLOW' })).toBe(1);
  });

  it('reads the SVID expiry and the open outbound connections at scrape time', async () => {
    const registry = new Registry();
    let expiresAt: number | undefined;
    let open = 0;
    const spiffeId = 'spiffe://cluster.local/ns/shop/sa/web';
    createSidecarMetrics(registry, {
      svid: () => (expiresAt === undefined ? undefined : { spiffeId, expiresAt }),
      outboundConnections: () => open,
      now: () => 1_000_000,
    });
    expect(
      await value(registry, 'lanyard_sidecar_svid_expiry_seconds', { spiffe_id: spiffeId }),
    ).toBeUndefined();
    expiresAt = 1_000_000 + 1800_000;
    open = 3;
    expect(await value(registry, 'lanyard_sidecar_svid_expiry_seconds', { spiffe_id: spiffeId })).toBe(1800);
    expect(await value(registry, 'lanyard_sidecar_outbound_connections')).toBe(3);
    expiresAt = 1_000_000 - 5_000;
    expect(await value(registry, 'lanyard_sidecar_svid_expiry_seconds', { spiffe_id: spiffeId })).toBe(-5);
  });

  it('counts JWKS fetch errors by issuer and service-token mints by outcome', async () => {
    const registry = new Registry();
    const metrics = createSidecarMetrics(registry);
    metrics.jwksFetch('https://login.example', 'error');
    metrics.jwksFetch('https://login.example', 'error');
    metrics.jwksFetch('https://other.example', 'ok');
    metrics.serviceTokenMint('ok');
    expect(
      await value(registry, 'lanyard_sidecar_jwks_fetches_total', {
        issuer: 'https://login.example',
        outcome: 'error',
      }),
    ).toBe(2);
    expect(await value(registry, 'lanyard_sidecar_service_token_mints_total', { outcome: 'ok' })).toBe(1);
  });

  describe('outbound pool', () => {
    let server: Server | undefined;
    afterEach(() => {
      server?.closeAllConnections();
      server?.close();
    });

    it('counts new and reused connections over a real keep-alive pool, and open connections', async () => {
      server = createServer((_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const upstreamPort = (server.address() as { port: number }).port;
      const registry = new Registry();
      const metrics = createSidecarMetrics(registry, {
        svid: () => undefined,
        outboundConnections: () => forwarder.openConnections(),
      });
      const forwarder = createOutOfMeshForwarder({
        tokens: { get: () => Promise.resolve('t') },
        onResult: (result) => metrics.outbound({ kind: 'out_of_mesh', ...result }),
      });
      const route: OutOfMeshRoute = {
        outOfMesh: { audience: 'a', host: '127.0.0.1', port: upstreamPort, transport: 'http-loopback' },
      };
      const engine = createHttp1Server({ handle: (exchange) => forwarder.forward(exchange, route, []) });
      const front = createNetServer((socket) => engine.serve(socket));
      await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
      const frontPort = (front.address() as { port: number }).port;
      const get = () =>
        new Promise<void>((resolve, reject) =>
          request({ host: '127.0.0.1', port: frontPort, agent: false }, (res) => {
            res.resume();
            res.on('end', resolve);
          })
            .on('error', reject)
            .end(),
        );
      try {
        for (let i = 0; i < 3; i++) await get();
        const reused = await value(registry, 'lanyard_sidecar_outbound_requests_total', {
          kind: 'out_of_mesh',
          connection: 'reused',
          status_class: '2xx',
        });
        const fresh = await value(registry, 'lanyard_sidecar_outbound_requests_total', { connection: 'new' });
        expect({ fresh, reused }).toEqual({ fresh: 1, reused: 2 });
        expect(await value(registry, 'lanyard_sidecar_outbound_connections')).toBe(1);
        expect(await value(registry, 'lanyard_sidecar_outbound_request_seconds_count')).toBe(3);
      } finally {
        forwarder.close();
        front.close();
      }
    });
  });
});
