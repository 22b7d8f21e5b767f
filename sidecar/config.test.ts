import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSidecarConfig, parseRoutes } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-sidecar-config-'));
const roots = join(dir, 'roots.pem');
writeFileSync(roots, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  LANYARD_CONTROL_PLANE: 'lanyard.lanyard-system.svc:15012',
  LANYARD_ROOTS_FILE: roots,
  LANYARD_POD_NAME: 'orders-1',
  LANYARD_APP_PORT: '8080',
};

describe('loadSidecarConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadSidecarConfig(base);
    expect(config).toMatchObject({
      trustDomain: 'cluster.local',
      controlPlaneId: 'spiffe://cluster.local/ns/lanyard-system/sa/lanyard-controller',
      credential: { kind: 'token-file', path: '/var/run/secrets/lanyard/token' },
      inboundPort: 15006,
      outboundPort: 15001,
      adminPort: 15020,
      appPort: 8080,
    });
  });

  it.each([
    [{ LANYARD_APP_PORT: '70000' }, /LANYARD_APP_PORT must be a port/],
    [{ LANYARD_POD_NAME: '' }, /LANYARD_POD_NAME is required/],
    [{ LANYARD_TRUST_DOMAIN: 'Cluster.Local' }, /lowercase/],
    [{ LANYARD_CONTROL_PLANE_ID: 'spiffe://cluster.local/ns/../sa/x' }, /SPIFFE/],
  ])('refuses %o with a clear message', (override, message) => {
    expect(() => loadSidecarConfig({ ...base, ...override })).toThrow(message);
  });
});

it('leaves the app port out for a client-only workload', () => {
  expect(loadSidecarConfig({ ...base, LANYARD_APP_PORT: undefined }).appPort).toBeUndefined();
});

describe('parseRoutes', () => {
  it('reads host:port routes', () => {
    const routes = parseRoutes(
      JSON.stringify({
        'orders.shop:80': {
          address: '10.0.0.7',
          port: 15006,
          spiffeId: 'spiffe://cluster.local/ns/shop/sa/orders',
        },
      }),
    );
    expect(routes.get('orders.shop:80')).toMatchObject({
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/orders',
    });
  });

  it.each([
    ['not json', /not JSON/],
    ['[]', /JSON object/],
    [JSON.stringify({ 'Orders:80': { address: 'a', port: 1, spiffeId: 'spiffe://td/x' } }), /lowercase/],
    [JSON.stringify({ 'orders:80': { address: 'a' } }), /needs address, port and spiffeId/],
    [JSON.stringify({ 'orders:80': { address: 'a', port: 1, spiffeId: 'spiffe://td/a/../b' } }), /SPIFFE/],
  ])('refuses %s', (text, message) => {
    expect(() => parseRoutes(text)).toThrow(message);
  });
});
