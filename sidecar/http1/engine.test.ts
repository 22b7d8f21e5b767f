// The HTTP/1.1 engine end to end over real sockets: a client, the inbound listener (plaintext,
// PERMISSIVE, allow-all) with the app forwarder on the engine, and a node:http app.
import { createHash } from 'node:crypto';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePath } from '../../lib/path.ts';
import { compilePolicies } from '../../lib/policy/index.ts';
import { createTestCa } from '../../test/helpers/pki.ts';
import { createAppForwarder, type DecisionRecord } from '../app-forwarder.ts';
import { createInboundPipeline } from '../inbound.ts';
import { createJwtValidator } from '../jwt/index.ts';
import { createInboundListener, type InboundListener } from '../listener.ts';

const EIGHT_MIB = 8 * 1024 * 1024;
const big = Buffer.alloc(EIGHT_MIB, 'lanyard-');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let app: Server;
let listener: InboundListener;
let port: number;
let closedPort: number;
const records: DecisionRecord[] = [];
const seen: { url: string; headers: IncomingHttpHeaders; trailers: NodeJS.Dict<string>; body: string }[] = [];
let hugeWritten = 0;
const HUGE = 8 * EIGHT_MIB;

function appHandler(req: IncomingMessage, res: ServerResponse) {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    seen.push({
      url: req.url!,
      headers: req.headers,
      trailers: req.trailers,
      body: body.length < 1024 ? body.toString() : sha256(body),
    });
    switch (req.url) {
      case '/hash':
        return res.end(sha256(body));
      case '/big':
        return res.end(big);
      case '/huge': {
        // 64 MiB, written only as fast as the app's socket takes it.
        hugeWritten = 0;
        const pump = () => {
          while (hugeWritten < HUGE) {
            hugeWritten += big.length / 8;
            if (!res.write(big.subarray(0, big.length / 8))) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      case '/trailers':
        res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-checksum' });
        res.write('part one,');
        res.addTrailers({ 'x-checksum': 'abc123' });
        return res.end(' part two');
      case '/no-content':
        res.writeHead(204);
        return res.end();
      case '/not-modified':
        res.writeHead(304, { etag: '"v1"' });
        return res.end();
      case '/never':
        return; // no answer
      default: {
        const text = `app saw ${req.method} ${req.url}`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
        return res.end(text);
      }
    }
  });
}

beforeAll(async () => {
  const ca = await createTestCa();
  const orders = await ca.issue({
    subject: 'CN=o',
    uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
    usage: 'both',
  });
  app = createServer(appHandler);
  const appPort = await new Promise<number>((resolve) =>
    app.listen(0, '127.0.0.1', () => resolve((app.address() as { port: number }).port)),
  );
  const closed = createNetServer();
  closedPort = await new Promise<number>((resolve) =>
    closed.listen(0, '127.0.0.1', () => resolve((closed.address() as { port: number }).port)),
  );
  closed.close();
  const { index } = compilePolicies([
    {
      metadata: { name: 'open', namespace: 'shop' },
      spec: { mtls: 'PERMISSIVE', action: 'ALLOW', rules: [{ to: [{ paths: ['/{**}'] }] }] },
    },
  ]);
  const view = index.forWorkload({ namespace: 'shop', labels: {} });
  const pipeline = createInboundPipeline({
    policy: () => view,
    normalizePath,
    validatorFor: (i) => createJwtValidator(i),
  });
  const forwarder = createAppForwarder({ pipeline, appPort, onDecision: (r) => records.push(r) });
  const impatient = createAppForwarder({
    pipeline,
    appPort,
    appTimeoutMs: 300,
    onDecision: (r) => records.push(r),
  });
  const down = createAppForwarder({ pipeline, appPort: closedPort, onDecision: (r) => records.push(r) });
  listener = createInboundListener({
    tls: { certChainPem: orders.certPem, keyPem: orders.keyPem, bundlePem: ca.certPem },
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => 'PERMISSIVE',
    handle: (exchange, peer) =>
      (({ '/down': down, '/never': impatient })[exchange.request.target] ?? forwarder).handle(exchange, peer),
  });
  port = await listener.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await listener.close();
  app.close();
});

/** Writes raw bytes, reads until the server closes or `until` matches what arrived. */
function raw(bytes: string | Buffer, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (until?.test(answer)) socket.destroy();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

function call(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{
    status: number;
    body: Buffer;
    headers: IncomingHttpHeaders;
    trailers: NodeJS.Dict<string>;
  }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          body: Buffer.concat(chunks),
          headers: res.headers,
          trailers: res.trailers,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP/1.1 engine over real sockets', () => {
  it('keeps a connection alive for successive requests', async () => {
    const answer = await raw('GET /one HTTP/1.1\r\nHost: orders\r\n\r\n', /app saw GET \/one/);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).not.toMatch(/connection: close/i);
  });

  it('answers pipelined requests one at a time, in order', async () => {
    const answer = await raw(
      'GET /first HTTP/1.1\r\nHost: orders\r\n\r\nGET /second HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n',
    );
    expect(answer.indexOf('app saw GET /first')).toBeGreaterThan(0);
    expect(answer.indexOf('app saw GET /second')).toBeGreaterThan(answer.indexOf('app saw GET /first'));
    expect(answer.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });

  it('closes after an HTTP/1.0 request without keep-alive, and keeps one with it', async () => {
    const plain = await raw('GET /old HTTP/1.0\r\n\r\n');
    expect(plain).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(plain).toMatch(/connection: close/i);
    expect(plain).toMatch(/app saw GET \/old$/);
    const kept = await raw('GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', /app saw GET \/old/);
    expect(kept).toMatch(/connection: keep-alive/i);
  });

  it('carries 8 MiB each way intact', async () => {
    const up = await call('POST', '/hash', big);
    expect(up.body.toString()).toBe(sha256(big));
    const down = await call('GET', '/big');
    expect(sha256(down.body)).toBe(sha256(big));
  });

  it('re-frames a chunked request with trailers for the app', async () => {
    const answer = await raw(
      'POST /chunked HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        '5;ext=dropped\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const saw = seen.find((entry) => entry.url === '/chunked')!;
    expect(saw.body).toBe('hello world');
    expect(saw.headers['transfer-encoding']).toBe('chunked');
    expect(saw.trailers).toEqual({ 'x-checksum': '42' });
  });

  it('relays a chunked response with its trailers', async () => {
    const answer = await call('GET', '/trailers');
    expect(answer.body.toString()).toBe('part one, part two');
    expect(answer.trailers).toEqual({ 'x-checksum': 'abc123' });
  });

  it('sends HEAD answers and 204/304 without a body, keeping the declared length of HEAD', async () => {
    const answer = await raw(
      'HEAD /head HTTP/1.1\r\nHost: orders\r\n\r\nGET /after HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n',
    );
    const [head, rest] = answer.split(/\r\n\r\n/, 2);
    expect(head).toMatch(/content-length: 18/i);
    expect(rest).toMatch(/^HTTP\/1\.1 200 /); // the next response follows at once: no body bytes
    expect((await call('GET', '/no-content')).status).toBe(204);
    const notModified = await call('GET', '/not-modified');
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
  });

  it('relays the app 100 Continue, and the client then sends its body', async () => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const done = new Promise<void>((resolve) => socket.on('close', resolve));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !answer.includes('200'))
        socket.write('hello');
    });
    socket.write(
      'POST /expect HTTP/1.1\r\nHost: orders\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    );
    await done;
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(seen.find((entry) => entry.url === '/expect')!.body).toBe('hello');
  });

  it('holds a slow reader by backpressure up to the app, then delivers everything', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    socket.write('GET /huge HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Without backpressure the sidecar would have read all 64 MiB from the app by now.
    expect(hugeWritten).toBeGreaterThan(0);
    expect(hugeWritten).toBeLessThan(HUGE);
    let received = 0;
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (head === '') head = chunk.toString('latin1', 0, 15);
      received += chunk.length;
    });
    socket.resume();
    await new Promise((resolve) => socket.on('close', resolve));
    expect(head).toBe('HTTP/1.1 200 OK');
    expect(received).toBeGreaterThan(HUGE); // the body, re-framed, and its head
  });

  it('answers 502 when the app is down, and 504 when it does not answer in time', async () => {
    records.length = 0;
    expect((await call('GET', '/down')).status).toBe(502);
    expect((await call('GET', '/never')).status).toBe(504);
    expect(records.map((record) => [record.status, record.reason])).toEqual([
      [502, 'APP_UNAVAILABLE'],
      [504, 'APP_TIMEOUT'],
    ]);
  });
});
