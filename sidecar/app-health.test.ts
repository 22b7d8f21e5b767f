import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { isLanyardError } from '../lib/errors.ts';
import { createAdminServer } from './admin.ts';
import { createAppHealth, parseAppProbes, type AppHealthOptions, type AppProbe } from './app-health.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, headers: { 'x-injected': 'evil' } },
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

/** An app that answers per path and records what each probe request carried. */
async function startApp(): Promise<{
  port: number;
  seen: { url?: string; headers: Record<string, unknown> }[];
}> {
  const seen: { url?: string; headers: Record<string, unknown> }[] = [];
  const app = createServer((req, res) => {
    seen.push({ ...(req.url === undefined ? {} : { url: req.url }), headers: { ...req.headers } });
    if (req.url === '/ready?full=1') res.writeHead(200).end('ready');
    else if (req.url === '/sick') res.writeHead(500).end('sick');
    else if (req.url === '/huge') res.writeHead(200).end('x'.repeat(1_000_000));
    else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 5000).unref();
    else res.writeHead(404).end();
  });
  return { port: await listen(app), seen };
}

async function startAdmin(probes: Record<string, AppProbe>, options: AppHealthOptions = {}): Promise<number> {
  const health = createAppHealth(new Map(Object.entries(probes)), options);
  return listen(createAdminServer(new Registry(), { notReadyReason: () => undefined }, health));
}

describe('probe forwarding on the admin port', () => {
  it("returns the app's status for a declared probe, without passing on the prober's headers", async () => {
    const app = await startApp();
    const admin = await startAdmin({
      '/app-health/orders/readyz': { port: app.port, path: '/ready?full=1', scheme: 'HTTP' },
      '/app-health/orders/livez': { port: app.port, path: '/sick', scheme: 'HTTP' },
    });
    expect(await get(admin, '/app-health/orders/readyz')).toEqual({ status: 200, body: 'ready' });
    expect((await get(admin, '/app-health/orders/livez')).status).toBe(500);
    expect(app.seen.map((s) => s.url)).toEqual(['/ready?full=1', '/sick']);
    expect(app.seen[0]!.headers['x-injected']).toBeUndefined();
    expect(app.seen[0]!.headers['user-agent']).toBe('lanyard-probe');
  });

  it('answers 404 for anything the pod did not declare, and never reaches the app', async () => {
    const app = await startApp();
    const admin = await startAdmin({
      '/app-health/orders/readyz': { port: app.port, path: '/ready?full=1', scheme: 'HTTP' },
    });
    for (const path of [
      '/app-health/orders/livez',
      '/app-health/other/readyz',
      '/app-health/orders/readyz/',
      '/app-health/orders/../orders/readyz',
      '/app-health/orders/%72eadyz',
    ]) {
      expect((await get(admin, path)).status).toBe(404);
    }
    expect(app.seen).toEqual([]);
    expect((await get(admin, '/healthz')).status).toBe(200);
  });

  it('stays GET-only: a POST to a probe path is 405 and reaches nothing', async () => {
    const app = await startApp();
    const admin = await startAdmin({
      '/app-health/orders/readyz': { port: app.port, path: '/ready?full=1', scheme: 'HTTP' },
    });
    expect((await get(admin, '/app-health/orders/readyz', 'POST')).status).toBe(405);
    expect(app.seen).toEqual([]);
  });

  it('answers 503 when the app is down or too slow, and bounds the body it relays', async () => {
    const app = await startApp();
    const closed = await listen(createServer());
    servers.pop()!.close();
    const admin = await startAdmin(
      {
        '/app-health/a/readyz': { port: closed, path: '/', scheme: 'HTTP' },
        '/app-health/a/livez': { port: app.port, path: '/slow', scheme: 'HTTP' },
        '/app-health/a/startupz': { port: app.port, path: '/huge', scheme: 'HTTP' },
      },
      { timeoutMs: 300, maxBodyBytes: 100 },
    );
    expect((await get(admin, '/app-health/a/readyz')).status).toBe(503);
    expect(await get(admin, '/app-health/a/livez')).toEqual({ status: 503, body: 'probe timed out\n' });
    const huge = await get(admin, '/app-health/a/startupz');
    expect(huge.status).toBe(200);
    expect(huge.body).toBe('x'.repeat(100));
  });
});

describe('parseAppProbes', () => {
  function refused(text: string): string {
    try {
      parseAppProbes(text);
    } catch (error) {
      expect(isLanyardError(error, 'ERR_CONFIG_INVALID')).toBe(true);
      return (error as Error).message;
    }
    throw new Error('accepted');
  }

  it('reads what the injector writes', () => {
    const probes = parseAppProbes(
      '{"/app-health/orders/readyz":{"port":8080,"path":"/ready","scheme":"HTTP"}}',
    );
    expect([...probes]).toEqual([
      ['/app-health/orders/readyz', { port: 8080, path: '/ready', scheme: 'HTTP', headers: [] }],
    ]);
  });

  it("sends the probe's declared httpHeaders to the app, after the defaults", async () => {
    const app = await startApp();
    const probes = parseAppProbes(
      JSON.stringify({
        '/app-health/orders/readyz': {
          port: app.port,
          path: '/ready?full=1',
          scheme: 'HTTP',
          headers: [
            ['Host', 'orders.internal'],
            ['X-Probe-Token', 'abc'],
            ['User-Agent', 'kube-probe/1.37'],
          ],
        },
      }),
    );
    const admin = await listen(
      createAdminServer(new Registry(), { notReadyReason: () => undefined }, createAppHealth(probes)),
    );
    expect((await get(admin, '/app-health/orders/readyz')).status).toBe(200);
    expect(app.seen[0]!.headers.host).toBe('orders.internal');
    expect(app.seen[0]!.headers['x-probe-token']).toBe('abc');
    expect(app.seen[0]!.headers['user-agent']).toBe('kube-probe/1.37');
  });

  it('refuses probe headers that could split or reframe the request', () => {
    const withHeaders = (headers: unknown) =>
      refused(JSON.stringify({ '/app-health/a/readyz': { port: 1, path: '/', scheme: 'HTTP', headers } }));
    expect(withHeaders([['X-A', 'ok\r\nX-Evil: 1']])).toMatch(/header value/);
    expect(withHeaders([['Bad Name', 'v']])).toMatch(/header name/);
    expect(withHeaders([['Transfer-Encoding', 'chunked']])).toMatch(/hop-by-hop/);
    expect(withHeaders([['Content-Length', '5']])).toMatch(/hop-by-hop/);
    expect(withHeaders({ a: 'b' })).toMatch(/list of at most 16/);
    expect(withHeaders(Array.from({ length: 17 }, (_, i) => [`x-${i}`, 'v']))).toMatch(/at most 16/);
  });

  it('refuses malformed input with a clear message', () => {
    expect(refused('nope')).toMatch(/not JSON/);
    expect(refused('[]')).toMatch(/JSON object/);
    expect(refused('{"/metrics":{"port":1,"path":"/","scheme":"HTTP"}}')).toMatch(/not \/app-health/);
    expect(refused('{"/app-health/a/readyz":{"port":"http","path":"/","scheme":"HTTP"}}')).toMatch(
      /numeric port/,
    );
    expect(refused('{"/app-health/a/readyz":{"port":70000,"path":"/","scheme":"HTTP"}}')).toMatch(
      /numeric port/,
    );
    expect(refused('{"/app-health/a/readyz":{"port":1,"path":"ready","scheme":"HTTP"}}')).toMatch(/path/);
    expect(refused('{"/app-health/a/readyz":{"port":1,"path":"/a b","scheme":"HTTP"}}')).toMatch(/path/);
    expect(refused('{"/app-health/a/readyz":{"port":1,"path":"/","scheme":"FTP"}}')).toMatch(/scheme/);
  });

  it('bounds the number of probes and the size of the text', () => {
    const many = Object.fromEntries(
      Array.from({ length: 65 }, (_, i) => [
        `/app-health/c${i}/readyz`,
        { port: 1, path: '/', scheme: 'HTTP' },
      ]),
    );
    expect(refused(JSON.stringify(many))).toMatch(/more than 64/);
    expect(refused(`{"x":"${'a'.repeat(70_000)}"}`)).toMatch(/longer than/);
  });
});
