import { createServer as createHttpServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { parseRoutes } from './config.ts';
import { createOutboundProxy, type OutboundProxy } from './outbound.ts';
import { createOutOfMeshForwarder, type OutOfMeshResult } from './out-of-mesh.ts';
import type { ServiceTokenCache } from './service-jwt.ts';

let ca: TestCa;
let web: PemPair;
let server: Server | undefined;
let outbound: OutboundProxy | undefined;

beforeAll(async () => {
  ca = await createTestCa();
  web = await ca.issue({ subject: 'CN=web', uris: ['spiffe://cluster.local/ns/shop/sa/web'], usage: 'both' });
});

afterEach(async () => {
  await outbound?.close();
  server?.close();
  server = outbound = undefined;
});

interface Seen {
  headers: IncomingHttpHeaders;
  url: string | undefined;
}

async function upstream(tls?: PemPair): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const handler = (req: { headers: IncomingHttpHeaders; url?: string }, res: { end(body: string): void }) => {
    seen.push({ headers: req.headers, url: req.url });
    res.end('from outside');
  };
  server = tls
    ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handler)
    : createHttpServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, seen };
}

function tokens(result: () => Promise<string>): ServiceTokenCache & { audiences: string[] } {
  const audiences: string[] = [];
  return {
    audiences,
    get: (audience) => {
      audiences.push(audience);
      return result();
    },
  };
}

async function proxy(
  routesJson: object,
  cache: ServiceTokenCache,
  caForTests?: string,
): Promise<{ port: number; results: OutOfMeshResult[] }> {
  const routes = parseRoutes(JSON.stringify(routesJson));
  const results: OutOfMeshResult[] = [];
  outbound = createOutboundProxy({
    tls: { certChainPem: web.certPem, keyPem: web.keyPem, bundlePem: ca.certPem },
    trustDomains: () => new Set(['cluster.local']),
    resolve: (host, port) => routes.get(`${host}:${port}`),
    outOfMesh: createOutOfMeshForwarder({
      tokens: cache,
      onResult: (result) => results.push(result),
      ...(caForTests ? { caForTests } : {}),
    }),
  });
  return { port: await outbound.listen(0), results };
}

function call(
  port: number,
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/quote?x=1', headers: { host, ...headers } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('out-of-mesh routes in the routes file', () => {
  it('defaults host to the key, port to 443 and transport to TLS', () => {
    const routes = parseRoutes(
      JSON.stringify({ 'api.partner.example:80': { outOfMesh: { audience: 'partner' } } }),
    );
    expect(routes.get('api.partner.example:80')).toEqual({
      outOfMesh: { audience: 'partner', host: 'api.partner.example', port: 443, transport: 'tls' },
    });
  });

  it.each([
    [{ outOfMesh: {} }, /audience/],
    [{ outOfMesh: { audience: 'a b' } }, /audience/],
    [{ outOfMesh: { audience: 'a', transport: 'http' } }, /transport/],
    [{ outOfMesh: { audience: 'a', host: '10.0.0.1', port: 80, transport: 'http-loopback' } }, /loopback IP/],
    [
      { outOfMesh: { audience: 'a', host: 'localhost', port: 80, transport: 'http-loopback' } },
      /loopback IP/,
    ],
    [{ outOfMesh: { audience: 'a', host: 'API.example' } }, /DNS name/],
    [{ outOfMesh: { audience: 'a', port: 0 } }, /port/],
    [{ outOfMesh: { audience: 'a', insecure: true } }, /unknown fields insecure/],
    [{ outOfMesh: { audience: 'a' }, address: '127.0.0.1' }, /stands alone/],
  ])('refuses %j', (route, message) => {
    expect(() => parseRoutes(JSON.stringify({ 'api.example:80': route }))).toThrow(message);
  });
});

describe('out-of-mesh forwarding', () => {
  it('sends the service token for the route audience, with the external Host, and no identity headers', async () => {
    const { port: upstreamPort, seen } = await upstream();
    const cache = tokens(() => Promise.resolve('svc.jwt.token'));
    const { port, results } = await proxy(
      {
        'quotes.test:80': {
          outOfMesh: {
            audience: 'quotes-api',
            host: '127.0.0.1',
            port: upstreamPort,
            transport: 'http-loopback',
          },
        },
      },
      cache,
    );
    const answer = await call(port, 'quotes.test', { 'x-lanyard-user': 'spoofed', cookie: 'a=1' });
    expect(answer).toMatchObject({ status: 200, body: 'from outside' });
    expect(cache.audiences).toEqual(['quotes-api']);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      url: '/v1/quote?x=1',
      headers: { authorization: 'Bearer svc.jwt.token', host: `127.0.0.1:${upstreamPort}`, cookie: 'a=1' },
    });
    expect(seen[0]!.headers['x-lanyard-user']).toBeUndefined();
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      destination: `127.0.0.1:${upstreamPort}`,
      status: 200,
      reusedConnection: false,
    });
    expect(results[0]!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('refuses a request that already carries Authorization, without minting or connecting', async () => {
    const { port: upstreamPort, seen } = await upstream();
    const cache = tokens(() => Promise.resolve('svc.jwt.token'));
    const { port } = await proxy(
      {
        'quotes.test:80': {
          outOfMesh: { audience: 'q', host: '127.0.0.1', port: upstreamPort, transport: 'http-loopback' },
        },
      },
      cache,
    );
    const answer = await call(port, 'quotes.test', { authorization: 'Bearer user-token' });
    expect(answer.status).toBe(400);
    expect(answer.headers['x-lanyard-error']).toMatch(/may not carry Authorization/);
    expect(cache.audiences).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('answers 503 without reaching the destination when no token can be minted, and never echoes the cause', async () => {
    const { port: upstreamPort, seen } = await upstream();
    const cache = tokens(() => Promise.reject(new Error('CA said secret-detail')));
    const { port, results } = await proxy(
      {
        'quotes.test:80': {
          outOfMesh: { audience: 'q', host: '127.0.0.1', port: upstreamPort, transport: 'http-loopback' },
        },
      },
      cache,
    );
    const answer = await call(port, 'quotes.test');
    expect(answer.status).toBe(503);
    expect(answer.body).not.toContain('secret-detail');
    expect(seen).toEqual([]);
    expect(results[0]).toMatchObject({ status: 503 });
  });

  it('speaks TLS to the destination and checks its certificate against the roots and its name', async () => {
    const good = await ca.issue({ subject: 'CN=quotes', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const { port: upstreamPort, seen } = await upstream(good);
    const cache = tokens(() => Promise.resolve('svc.jwt.token'));
    const routes = {
      'quotes.test:80': { outOfMesh: { audience: 'q', host: '127.0.0.1', port: upstreamPort } },
    };
    const { port } = await proxy(routes, cache, ca.certPem);
    expect(await call(port, 'quotes.test')).toMatchObject({ status: 200, body: 'from outside' });
    expect(seen[0]?.headers.authorization).toBe('Bearer svc.jwt.token');
    await outbound!.close();

    // Roots that did not issue the server's certificate: the token never leaves.
    const other = await createTestCa('other-ca');
    const { port: refusing } = await proxy(routes, cache, other.certPem);
    const answer = await call(refusing, 'quotes.test');
    expect(answer.status).toBe(502);
    expect(seen).toHaveLength(1);
  });

  it('refuses a certificate for another name, even from a trusted root', async () => {
    const wrongName = await ca.issue({
      subject: 'CN=elsewhere',
      ipAddresses: ['127.0.0.2'],
      usage: 'server',
    });
    const { port: upstreamPort, seen } = await upstream(wrongName);
    const routes = {
      'quotes.test:80': { outOfMesh: { audience: 'q', host: '127.0.0.1', port: upstreamPort } },
    };
    const { port } = await proxy(
      routes,
      tokens(() => Promise.resolve('svc.jwt.token')),
      ca.certPem,
    );
    expect((await call(port, 'quotes.test')).status).toBe(502);
    expect(seen).toEqual([]);
  });

  it('refuses out-of-mesh routes when the proxy has no forwarder for them', async () => {
    const routes = parseRoutes(JSON.stringify({ 'quotes.test:80': { outOfMesh: { audience: 'q' } } }));
    outbound = createOutboundProxy({
      tls: { certChainPem: web.certPem, keyPem: web.keyPem, bundlePem: ca.certPem },
      trustDomains: () => new Set(['cluster.local']),
      resolve: (host, port) => routes.get(`${host}:${port}`),
    });
    const answer = await call(await outbound.listen(0), 'quotes.test');
    expect(answer.status).toBe(502);
  });
});
