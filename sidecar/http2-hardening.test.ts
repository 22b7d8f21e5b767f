// HTTP/2 on the inbound listener, attacked and stressed over real sockets: too many streams,
// a connection that never completes a request head, spoofed identity headers, oversized header
// lists, a body the app does not read (flow control), resets, and h2c in PERMISSIVE mode.
import {
  connect as connectHttp2,
  constants,
  createServer as createHttp2Server,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { connect as connectTcp, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies } from '../lib/policy/index.ts';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createAppForwarder } from './app-forwarder.ts';
import { H2_PREFACE } from './http2-front.ts';
import { createHttp2Forwarder } from './http2-forwarder.ts';
import { createInboundPipeline } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';
import { createInboundListener, type InboundListener } from './listener.ts';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const MAX_STREAMS = 2;

let ca: TestCa;
let web: PemPair;
let app: Http2Server;
let listener: InboundListener;
let port: number;
let mode: 'STRICT' | 'PERMISSIVE' = 'STRICT';
const appPaths: string[] = [];
const held: ServerHttp2Stream[] = [];
let releaseUpload: (() => void) | undefined;

function appHandler(stream: ServerHttp2Stream, headers: IncomingHttpHeaders) {
  const path = headers[':path'] ?? '';
  appPaths.push(path);
  stream.on('error', () => undefined);
  if (path === '/hold') return void held.push(stream); // never answered while the test runs
  if (path === '/echo') {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    return void stream.end(JSON.stringify(headers));
  }
  if (path === '/reset') {
    stream.resume();
    // With trailers owed, close(code) is a bare RST_STREAM (without, Node ends the stream first).
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.write('partial');
    return void setTimeout(() => stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM), 50);
  }
  if (path === '/upload') {
    // Reads nothing until the test says so: the sidecar must not take the body in meanwhile.
    stream.pause();
    releaseUpload = () => {
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(String(bytes));
      });
      stream.resume();
    };
    return;
  }
  stream.respond({ ':status': 404 });
  stream.end();
}

beforeAll(async () => {
  ca = await createTestCa();
  const orders = await ca.issue({
    subject: 'CN=o',
    uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
    usage: 'both',
  });
  web = await ca.issue({ subject: 'CN=w', uris: [WEB], usage: 'both' });
  app = createHttp2Server();
  app.on('stream', appHandler);
  const appPort = await new Promise<number>((resolve) =>
    app.listen(0, '127.0.0.1', () => resolve((app.address() as { port: number }).port)),
  );
  // PERMISSIVE, allow-all except one path: refusals below come from HTTP/2 limits, not policy.
  const { index } = compilePolicies([
    {
      metadata: { name: 'open', namespace: 'shop' },
      spec: { mtls: 'PERMISSIVE', action: 'ALLOW', rules: [{ to: [{ paths: ['/{**}'] }] }] },
    },
    {
      metadata: { name: 'no-admin', namespace: 'shop' },
      spec: { action: 'DENY', rules: [{ to: [{ paths: ['/pkg.Svc/Admin'] }] }] },
    },
  ]);
  const view = index.forWorkload({ namespace: 'shop', labels: {} });
  const pipeline = createInboundPipeline({
    policy: () => view,
    normalizePath,
    validatorFor: (i) => createJwtValidator(i),
  });
  listener = createInboundListener({
    tls: { certChainPem: orders.certPem, keyPem: orders.keyPem, bundlePem: ca.certPem },
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => mode,
    handle: createAppForwarder({ pipeline, appPort, onDecision: () => undefined }).handle,
    handleStream: createHttp2Forwarder({ pipeline, appPort, onDecision: () => undefined }).handleStream,
    headersTimeoutMs: 300,
    http2: { maxConcurrentStreams: MAX_STREAMS },
  });
  port = await listener.listen(0, '127.0.0.1');
}, 60_000);

afterAll(async () => {
  for (const stream of held) stream.close();
  await listener.close(1000);
  app.close();
});

// --- a minimal HTTP/2 frame writer and reader, to break the rules a real client follows ---

const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal fields without indexing or Huffman (RFC 7541 §6.2.2); short strings only. */
function headerBlock(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(
      Buffer.from([0x00, name.length]),
      Buffer.from(name),
      Buffer.from([value.length]),
      Buffer.from(value),
    );
  }
  return Buffer.concat(parts);
}

const request = (path: string) =>
  headerBlock([
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', path],
    [':authority', 'orders.shop'],
  ]);

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A raw HTTP/2 connection: every frame the server sends, and whether it closed. */
function rawHttp2(tls: boolean) {
  const frames: Frame[] = [];
  let buffer = Buffer.alloc(0);
  let closed = false;
  const socket: TLSSocket | Socket = tls
    ? connectTls({
        host: '127.0.0.1',
        port,
        ca: ca.certPem,
        cert: web.certPem,
        key: web.keyPem,
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      })
    : connectTcp(port, '127.0.0.1');
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 9 && buffer.length >= 9 + buffer.readUIntBE(0, 3)) {
      const length = buffer.readUIntBE(0, 3);
      const received = {
        type: buffer[3]!,
        flags: buffer[4]!,
        streamId: buffer.readUInt32BE(5) & 0x7fffffff,
        payload: buffer.subarray(9, 9 + length),
      };
      buffer = buffer.subarray(9 + length);
      frames.push(received);
      // Acknowledge the server's SETTINGS, as a client must before it may rely on them.
      if (received.type === FRAME.SETTINGS && !(received.flags & FLAG.ACK))
        socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  const opened = new Promise<void>((resolve) => socket.once(tls ? 'secureConnect' : 'connect', resolve));
  return {
    frames,
    closed: () => closed,
    send: async (...chunks: Buffer[]) => {
      await opened;
      socket.write(Buffer.concat(chunks));
    },
    destroy: () => socket.destroy(),
  };
}

/** Whether `test` holds within timeoutMs, checked every 20 ms (never an assertion on time). */
async function until(test: () => boolean, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!test() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return test();
}

function client(secure = true): ClientHttp2Session {
  const session = secure
    ? connectHttp2(`https://127.0.0.1:${port}`, {
        ca: ca.certPem,
        cert: web.certPem,
        key: web.keyPem,
        checkServerIdentity: () => undefined,
      })
    : connectHttp2(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}

/** One request; resolves with status, response flags, headers, body and the stream's reset code. */
function exchange(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer) {
  return new Promise<{
    status?: number;
    flags?: number;
    headers?: IncomingHttpHeaders;
    body: string;
    rstCode?: number;
  }>((resolve) => {
    const stream = session.request({ ':authority': 'orders.shop', ...headers });
    const result: { status?: number; flags?: number; headers?: IncomingHttpHeaders; body: string } = {
      body: '',
    };
    stream.on('response', (response, flags) => {
      result.status = Number(response[':status']);
      result.flags = flags;
      result.headers = response;
    });
    stream.on('data', (chunk: Buffer) => (result.body += chunk.toString()));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ ...result, rstCode: stream.rstCode }));
    stream.end(body);
  });
}

describe('inbound HTTP/2 hardening', { timeout: 60_000 }, () => {
  it('refuses streams beyond the concurrent-stream limit with REFUSED_STREAM', async () => {
    const before = appPaths.filter((path) => path === '/hold').length;
    const connection = rawHttp2(true);
    const open = FLAG.END_STREAM | FLAG.END_HEADERS;
    await connection.send(
      H2_PREFACE,
      frame(FRAME.SETTINGS, 0, 0),
      frame(FRAME.HEADERS, open, 1, request('/hold')),
      frame(FRAME.HEADERS, open, 3, request('/hold')),
      frame(FRAME.HEADERS, open, 5, request('/hold')),
    );
    const reset = () => connection.frames.find((f) => f.type === FRAME.RST_STREAM);
    expect(await until(() => reset() !== undefined)).toBe(true);
    expect(reset()!.streamId).toBe(5);
    expect(reset()!.payload.readUInt32BE(0)).toBe(constants.NGHTTP2_REFUSED_STREAM);
    // The two streams within the limit went through to the app.
    expect(await until(() => appPaths.filter((path) => path === '/hold').length === before + 2)).toBe(true);
    connection.destroy();
  });

  it('closes an HTTP/2 connection that never sends a request head (slowloris)', async () => {
    const idle = rawHttp2(true);
    await idle.send(H2_PREFACE, frame(FRAME.SETTINGS, 0, 0));
    // A header block that never ends (no END_HEADERS, no CONTINUATION) opens no stream either.
    const partial = rawHttp2(true);
    await partial.send(H2_PREFACE, frame(FRAME.SETTINGS, 0, 0), frame(FRAME.HEADERS, 0, 1, request('/echo')));
    expect(await until(() => idle.closed())).toBe(true);
    expect(await until(() => partial.closed())).toBe(true);
    expect(partial.frames.some((f) => f.type === FRAME.HEADERS)).toBe(false);
  });

  it('strips spoofed identity headers from an HTTP/2 stream and sets the verified ones', async () => {
    const session = client();
    const answer = await exchange(session, {
      ':path': '/echo',
      'x-lanyard-user': 'admin',
      'x-lanyard-peer-id': 'spiffe://cluster.local/ns/ops/sa/evil',
      x_lanyard_user_issuer: 'https://evil.example',
      'x-forwarded-client-cert': 'By=spiffe://cluster.local/ns/shop/sa/orders;URI=spiffe://evil',
    });
    session.close();
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body) as Record<string, string>;
    expect(seen['x-lanyard-peer-id']).toBe(WEB);
    expect(seen['x-lanyard-user']).toBeUndefined();
    expect(seen.x_lanyard_user_issuer).toBeUndefined();
    expect(seen['x-forwarded-client-cert']).toBeUndefined();
  });

  it('refuses a header list beyond the limit without reaching the app', async () => {
    const before = appPaths.length;
    const session = client();
    const answer = await exchange(session, { ':path': '/echo', 'x-big': 'a'.repeat(40 * 1024) });
    session.close();
    expect(answer.status).toBe(431);
    expect(appPaths.length).toBe(before);
  });

  it('answers a refused gRPC call with one HEADERS frame: HTTP 200, grpc-status 7', async () => {
    const session = client();
    const answer = await exchange(session, {
      ':method': 'POST',
      ':path': '/pkg.Svc/Admin',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    session.close();
    expect(answer.status).toBe(200);
    expect(answer.flags! & constants.NGHTTP2_FLAG_END_STREAM).toBeTruthy();
    expect(answer.headers!['grpc-status']).toBe('7');
    expect(answer.headers!['grpc-message']).toBe('forbidden');
    expect(appPaths).not.toContain('/pkg.Svc/Admin');
  });

  it('holds a body the app does not read by flow control, then delivers all of it', async () => {
    const session = client();
    const stream = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'orders.shop' });
    stream.on('error', () => undefined);
    const total = 16 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 7);
    let flushed = 0;
    let offered = 0;
    const response = new Promise<string>((resolve) => {
      let body = '';
      stream.on('data', (data: Buffer) => (body += data.toString()));
      stream.on('end', () => resolve(body));
    });
    const pump = () => {
      while (offered < total) {
        offered += chunk.length;
        const more = stream.write(chunk, () => (flushed += chunk.length));
        if (offered === total) stream.end();
        if (!more) return void stream.once('drain', pump);
      }
    };
    pump();
    // Wait until nothing more leaves the client: every window between it and the app is full.
    let last = -1;
    while (flushed !== last || releaseUpload === undefined) {
      last = flushed;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(flushed).toBeGreaterThan(0);
    expect(flushed).toBeLessThan(2 * 1024 * 1024); // of 16 MiB: the sidecar buffered no body whole
    releaseUpload();
    expect(await response).toBe(String(total));
    session.close();
  });

  it('carries a reset by the app to the client, with its error code', async () => {
    // A raw client: it sees the frames themselves, a truncated body included.
    const connection = rawHttp2(true);
    await connection.send(
      H2_PREFACE,
      frame(FRAME.SETTINGS, 0, 0),
      frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, request('/reset')),
    );
    const reset = () => connection.frames.find((f) => f.type === FRAME.RST_STREAM && f.streamId === 1);
    expect(await until(() => reset() !== undefined)).toBe(true);
    expect(connection.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === 1)).toBe(true);
    expect(reset()!.payload.readUInt32BE(0)).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    // The truncated body is not passed off as complete: no END_STREAM came before the reset.
    const ended = connection.frames.filter((f) => f.streamId === 1 && f.flags & FLAG.END_STREAM);
    expect(ended.filter((f) => f.type === FRAME.DATA || f.type === FRAME.HEADERS)).toEqual([]);
    connection.destroy();
  });

  it('serves h2c prior knowledge in plaintext while PERMISSIVE, without a peer identity, and refuses it while STRICT', async () => {
    mode = 'STRICT';
    const strict = client(false);
    const refused = await exchange(strict, { ':path': '/echo' });
    strict.destroy();
    expect(refused.status).toBeUndefined();

    mode = 'PERMISSIVE';
    const plain = client(false);
    const answer = await exchange(plain, { ':path': '/echo' });
    plain.close();
    mode = 'STRICT';
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as Record<string, string>)['x-lanyard-peer-id']).toBeUndefined();
  });
});

describe('inbound HTTP/2 shutdown', { timeout: 60_000 }, () => {
  it('lets a stream in flight finish, sends GOAWAY, then refuses new connections', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const orders = await ca.issue({
      subject: 'CN=o',
      uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
      usage: 'both',
    });
    const slow = createInboundListener({
      tls: { certChainPem: orders.certPem, keyPem: orders.keyPem, bundlePem: ca.certPem },
      trustDomains: () => new Set(['cluster.local']),
      mtlsMode: () => 'STRICT',
      handle: (exchange) => exchange.respond(200, [], ''),
      handleStream: (stream) => {
        arrived();
        void released.then(() => {
          stream.respond({ ':status': 200 });
          stream.end('finished');
        });
      },
    });
    const slowPort = await slow.listen(0, '127.0.0.1');
    const session = connectHttp2(`https://127.0.0.1:${slowPort}`, {
      ca: ca.certPem,
      cert: web.certPem,
      key: web.keyPem,
      checkServerIdentity: () => undefined,
    });
    session.on('error', () => undefined);
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const answer = exchange(session, { ':path': '/slow' });
    await inFlight;
    const closing = slow.close(10_000);
    await goaway;
    const late = connectHttp2(`https://127.0.0.1:${slowPort}`, {
      ca: ca.certPem,
      cert: web.certPem,
      key: web.keyPem,
      checkServerIdentity: () => undefined,
    });
    const refused = await new Promise<boolean>((resolve) => {
      late.once('error', () => resolve(true));
      late.once('connect', () => resolve(false));
    });
    late.destroy();
    expect(refused).toBe(true);
    release();
    expect(await answer).toMatchObject({ status: 200, body: 'finished' });
    await closing;
  });
});
