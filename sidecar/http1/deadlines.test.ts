// The engine's coarse deadlines over real sockets: an idle pooled connection closes after its
// idle timeout, a silent upstream is a timeout, a keep-alive connection that starts a next
// request head but does not finish it gets a 408, and one that starts none stays open.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Pool, type UpstreamError, type UpstreamResponse } from './client.ts';
import { createHttp1Server } from './server.ts';

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server = createServer(onSocket);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A tiny upstream: answers each request head with "ok", or never when `silent`. */
function upstream(sockets: Socket[], silent = false) {
  return (socket: Socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => {
      if (!silent && chunk.includes('\r\n\r\n'))
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    socket.on('error', () => undefined);
  };
}

function get(pool: Http1Pool): Promise<UpstreamResponse | UpstreamError> {
  return new Promise((resolve) => {
    pool.request(
      { method: 'GET', target: '/', headers: [['host', 'app']] },
      {
        response: (response) => {
          response.body.read({ data: () => true, end: () => resolve(response), abort: () => undefined });
        },
        error: resolve,
      },
    );
  });
}

/** An engine server answering "ok" to every request, and a raw client connected to it. */
async function okServerAndClient(headersTimeoutMs: number) {
  const server = createHttp1Server({
    handle: (exchange) => exchange.respond(200, [], 'ok'),
    headersTimeoutMs,
  });
  const port = await listen((socket) => server.serve(socket));
  const client = connect({ host: '127.0.0.1', port });
  let received = '';
  client.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  return { server, client, received: () => received };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, withinMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (!condition() && Date.now() < deadline) await sleep(10);
  return condition();
}
const closed = (socket: Socket) => socket.destroyed || socket.readableEnded;

describe('engine deadlines', () => {
  it('reuses a pooled connection within its idle timeout and closes it after', async () => {
    const sockets: Socket[] = [];
    const port = await listen(upstream(sockets));
    const pool = new Http1Pool({
      connect: (onread) => connect({ host: '127.0.0.1', port, onread }),
      exchangeTimeoutMs: 5_000,
      idleTimeoutMs: 200,
    });
    expect(await get(pool)).toMatchObject({ reusedConnection: false });
    await sleep(50);
    expect(await get(pool)).toMatchObject({ reusedConnection: true });
    expect(pool.openConnections).toBe(1);
    expect(await until(() => pool.openConnections === 0)).toBe(true);
    expect(await until(() => closed(sockets[0]!))).toBe(true);
    expect(sockets).toHaveLength(1);
    expect(await get(pool)).toMatchObject({ reusedConnection: false });
    pool.close();
  });

  it('fails an exchange the upstream stays silent on with a timeout, counted from the request', async () => {
    const sockets: Socket[] = [];
    const port = await listen(upstream(sockets, true));
    const pool = new Http1Pool({
      connect: (onread) => connect({ host: '127.0.0.1', port, onread }),
      exchangeTimeoutMs: 150,
      idleTimeoutMs: 10_000,
    });
    const started = performance.now();
    const outcome = await get(pool);
    expect(outcome).toMatchObject({ name: 'UpstreamError', failure: 'timeout' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    pool.close();
  });

  it('answers 408 when the next head on a kept-alive connection does not complete in time', async () => {
    const { server, client, received } = await okServerAndClient(150);
    const ended = new Promise((resolve) => client.on('close', resolve));
    client.write('GET /one HTTP/1.1\r\nhost: a\r\n\r\n');
    await sleep(100);
    client.write('GET /two HTTP/1.1\r\nhost: a\r\n'); // never finished
    await ended;
    expect(received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(server.connections).toBe(0);
  });

  it('keeps a kept-alive connection with no next head started open past the head deadline', async () => {
    const { client, received } = await okServerAndClient(100);
    client.write('GET /one HTTP/1.1\r\nhost: a\r\n\r\n');
    expect(await until(() => received().includes('\r\n\r\nok'))).toBe(true);
    await sleep(400); // four head deadlines, idle: no head has started
    expect(client.destroyed || client.readableEnded).toBe(false);
    client.write('GET /two HTTP/1.1\r\nhost: a\r\n\r\n');
    expect(await until(() => received().split('HTTP/1.1 200 OK').length === 3)).toBe(true);
    client.destroy();
  });
});
