// gRPC between two apps through a real sidecar pair: the client app speaks h2c to its outbound
// proxy, which carries the call over mTLS HTTP/2 to the server's inbound listener, which runs
// the decision pipeline per stream and relays allowed calls to the server app over h2c.
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies } from '../lib/policy/index.ts';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createAppForwarder, type DecisionRecord } from './app-forwarder.ts';
import { createHttp2Forwarder } from './http2-forwarder.ts';
import { createInboundPipeline } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';
import { createInboundListener, type InboundListener, type TlsMaterial } from './listener.ts';
import { createOutboundProxy, type OutboundProxy } from './outbound.ts';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const ISSUER = 'https://login.shop.example';
const LIMIT = 32 * 1024 * 1024;

interface Codec {
  serialize: (value: never) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
}
const json: Codec = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
};
const raw: Codec = { serialize: (value: Buffer) => value, deserialize: (bytes: Buffer) => bytes };
function method(path: string, requestStream: boolean, responseStream: boolean, codec: Codec = json) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: codec.serialize,
    requestDeserialize: codec.deserialize,
    responseSerialize: codec.serialize,
    responseDeserialize: codec.deserialize,
  };
}
const svc = {
  Echo: method('/pkg.Svc/Echo', false, false),
  Admin: method('/pkg.Svc/Admin', false, false),
  Sum: method('/pkg.Svc/Sum', true, false),
  Count: method('/pkg.Svc/Count', false, true),
  Chat: method('/pkg.Svc/Chat', true, true),
  Big: method('/pkg.Svc/Big', false, false, raw),
} as unknown as grpc.ServiceDefinition;
const secure = { Get: method('/pkg.Secure/Get', false, false) } as unknown as grpc.ServiceDefinition;

interface Seen {
  path: string;
  peer?: string;
  user?: string;
  authorization?: string;
}

let ca: TestCa;
let orders: PemPair;
let web: PemPair;
let app: grpc.Server;
let http1App: HttpServer;
let inbound: InboundListener;
let outbound: OutboundProxy;
let inboundPort: number;
let svcClient: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
let secureClient: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const seen: Seen[] = [];
const records: DecisionRecord[] = [];
let cancelled: (() => void) | undefined;

const material = (pair: PemPair): TlsMaterial => ({
  certChainPem: pair.certPem,
  keyPem: pair.keyPem,
  bundlePem: ca.certPem,
});

function note(path: string, metadata: grpc.Metadata) {
  const first = (key: string) => metadata.get(key)[0] as string | undefined;
  seen.push({
    path,
    peer: first('x-lanyard-peer-id'),
    user: first('x-lanyard-user'),
    authorization: first('authorization'),
  });
}

function startApp(): Promise<number> {
  app = new grpc.Server({ 'grpc.max_receive_message_length': LIMIT, 'grpc.max_send_message_length': LIMIT });
  app.addService(svc, {
    Echo: (call: grpc.ServerUnaryCall<{ text: string }, unknown>, done: grpc.sendUnaryData<unknown>) => {
      note('/pkg.Svc/Echo', call.metadata);
      if (call.request.text === 'missing') {
        const trailer = new grpc.Metadata();
        trailer.set('x-reason', 'no such order');
        return done({ code: grpc.status.NOT_FOUND, details: 'order 7 not found', metadata: trailer });
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-served-by', 'orders');
      done(null, { text: call.request.text }, trailer);
    },
    Admin: (call: grpc.ServerUnaryCall<unknown, unknown>, done: grpc.sendUnaryData<unknown>) => {
      note('/pkg.Svc/Admin', call.metadata);
      done(null, { admin: true });
    },
    Sum: (call: grpc.ServerReadableStream<{ n: number }, unknown>, done: grpc.sendUnaryData<unknown>) => {
      let sum = 0;
      let count = 0;
      call.on('data', (message: { n: number }) => {
        sum += message.n;
        count += 1;
      });
      call.on('end', () => done(null, { sum, count }));
    },
    Count: (call: grpc.ServerWritableStream<{ n: number; slow?: boolean }, unknown>) => {
      let i = 0;
      call.on('cancelled', () => cancelled?.());
      const pump = () => {
        while (i < call.request.n && !call.cancelled) {
          i += 1;
          if (call.request.slow) {
            call.write({ i });
            setTimeout(pump, 5);
            return;
          }
          if (!call.write({ i })) return void call.once('drain', pump);
        }
        if (!call.cancelled) call.end();
      };
      pump();
    },
    Chat: (call: grpc.ServerDuplexStream<{ text: string }, unknown>) => {
      call.on('data', (message: { text: string }) => call.write({ text: `re: ${message.text}` }));
      call.on('end', () => call.end());
    },
    Big: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      // Answers with the bytes reversed: the client checks every byte came through both ways.
      done(null, Buffer.from(call.request).reverse());
    },
  });
  app.addService(secure, {
    Get: (call: grpc.ServerUnaryCall<unknown, unknown>, done: grpc.sendUnaryData<unknown>) => {
      note('/pkg.Secure/Get', call.metadata);
      done(null, { ok: true });
    },
  });
  return new Promise((resolve, reject) =>
    app.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
}

beforeAll(async () => {
  ca = await createTestCa();
  orders = await ca.issue({ subject: 'CN=orders', uris: [ORDERS], usage: 'both' });
  web = await ca.issue({ subject: 'CN=web', uris: [WEB], usage: 'both' });
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };

  const { index, results } = compilePolicies([
    {
      metadata: { name: 'grpc', namespace: 'shop' },
      spec: {
        userTokens: [{ issuer: ISSUER, jwks: JSON.stringify({ keys: [jwk] }), audiences: ['orders'] }],
        action: 'ALLOW',
        rules: [
          { name: 'svc', from: [{ principals: [WEB] }], to: [{ paths: ['/pkg.Svc/{method}'] }] },
          {
            name: 'secure-readers',
            from: [{ principals: [WEB] }],
            to: [{ paths: ['/pkg.Secure/{method}'] }],
            when: [{ scope: 'orders.read' }],
          },
          { name: 'http1', from: [{ principals: [WEB] }], to: [{ paths: ['/plain'] }] },
        ],
      },
    },
    {
      metadata: { name: 'no-admin', namespace: 'shop' },
      spec: { action: 'DENY', rules: [{ name: 'admin', to: [{ paths: ['/pkg.Svc/Admin'] }] }] },
    },
  ]);
  expect(results.flatMap((result) => result.errors)).toEqual([]);
  const view = index.forWorkload({ namespace: 'shop', labels: {} });
  const pipeline = createInboundPipeline({
    policy: () => view,
    normalizePath,
    validatorFor: (issuers) => createJwtValidator(issuers),
  });

  const appPort = await startApp();
  // In a pod both protocols reach the same app port; here the HTTP/1.1 app is its own server.
  http1App = createHttpServer((req, res) => res.end(`http1 ${String(req.headers['x-lanyard-peer-id'])}`));
  const http1Port = await new Promise<number>((resolve) =>
    http1App.listen(0, '127.0.0.1', () => resolve((http1App.address() as { port: number }).port)),
  );
  const onDecision = (record: DecisionRecord) => records.push(record);
  inbound = createInboundListener({
    tls: material(orders),
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => 'STRICT',
    handle: createAppForwarder({ pipeline, appPort: http1Port, onDecision }).handle,
    handleStream: createHttp2Forwarder({ pipeline, appPort, onDecision }).handleStream,
  });
  inboundPort = await inbound.listen(0, '127.0.0.1');
  outbound = createOutboundProxy({
    tls: material(web),
    trustDomains: () => new Set(['cluster.local']),
    resolve: (host, port) =>
      host === 'orders.shop' && port === 80
        ? { address: '127.0.0.1', port: inboundPort, spiffeId: ORDERS }
        : undefined,
  });
  const outboundPort = await outbound.listen(0, '127.0.0.1');

  const options = {
    'grpc.default_authority': 'orders.shop',
    'grpc.max_receive_message_length': LIMIT,
    'grpc.max_send_message_length': LIMIT,
  };
  const Svc = grpc.makeGenericClientConstructor(svc, 'Svc');
  const Secure = grpc.makeGenericClientConstructor(secure, 'Secure');
  const target = `127.0.0.1:${outboundPort}`;
  svcClient = new Svc(target, grpc.credentials.createInsecure(), options) as typeof svcClient;
  secureClient = new Secure(target, grpc.credentials.createInsecure(), options) as typeof secureClient;
}, 60_000);

afterAll(async () => {
  svcClient?.close();
  secureClient?.close();
  await outbound?.close();
  await inbound?.close();
  await new Promise<void>((resolve) => app?.tryShutdown(() => resolve()));
  http1App?.close();
});

interface Result<T> {
  error?: grpc.ServiceError;
  value?: T;
  trailers?: grpc.Metadata;
}

function unary<T>(
  client: typeof svcClient,
  name: string,
  request: unknown,
  metadata = new grpc.Metadata(),
): Promise<Result<T>> {
  // Settles once both the callback and the 'status' event (which carries the trailers) came.
  return new Promise((resolve) => {
    let result: Result<T> | undefined;
    let trailers: grpc.Metadata | undefined;
    const settle = () => result && trailers && resolve({ ...result, trailers });
    const call = client[name]!(request, metadata, (error: grpc.ServiceError | null, value: T) => {
      result = error ? { error } : { value };
      settle();
    }) as grpc.ClientUnaryCall;
    call.on('status', (status: grpc.StatusObject) => {
      trailers = status.metadata;
      settle();
    });
  });
}

async function bearer(scope: string) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ aud: 'orders', scope })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject('alice')
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(privateKey);
}

describe('gRPC through a sidecar pair', { timeout: 60_000 }, () => {
  it('carries an allowed unary call, with the verified peer identity for the app', async () => {
    seen.length = 0;
    const result = await unary<{ text: string }>(svcClient, 'Echo', { text: 'hello' });
    expect(result.error).toBeUndefined();
    expect(result.value).toEqual({ text: 'hello' });
    expect(seen).toEqual([{ path: '/pkg.Svc/Echo', peer: WEB, user: undefined, authorization: undefined }]);
  });

  it('refuses a method a DENY policy names with PERMISSION_DENIED, before the app', async () => {
    seen.length = 0;
    records.length = 0;
    const result = await unary(svcClient, 'Admin', {});
    expect(result.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(result.error?.details).toBe('forbidden');
    expect(seen).toEqual([]);
    expect(records).toEqual([
      expect.objectContaining({
        peer: WEB,
        path: '/pkg.Svc/Admin',
        decision: 'DENY',
        reason: 'DENY_RULE',
        policy: 'shop/no-admin',
        status: 403,
      }),
    ]);
  });

  it('answers UNAUTHENTICATED when the token a rule needs is missing, and allows the call with it', async () => {
    seen.length = 0;
    const without = await unary(secureClient, 'Get', {});
    expect(without.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(seen).toEqual([]);

    const invalid = new grpc.Metadata();
    invalid.set('authorization', 'Bearer not-a-jwt');
    const refused = await unary(secureClient, 'Get', {}, invalid);
    expect(refused.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(refused.error?.metadata.get('www-authenticate')[0]).toMatch(/error="invalid_token"/);

    const token = `Bearer ${await bearer('orders.read')}`;
    const metadata = new grpc.Metadata();
    metadata.set('authorization', token);
    const allowed = await unary(secureClient, 'Get', {}, metadata);
    expect(allowed.error).toBeUndefined();
    expect(seen).toEqual([{ path: '/pkg.Secure/Get', peer: WEB, user: 'alice', authorization: token }]);

    const otherScope = new grpc.Metadata();
    otherScope.set('authorization', `Bearer ${await bearer('orders.write')}`);
    expect((await unary(secureClient, 'Get', {}, otherScope)).error?.code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
  });

  it('carries a client-streaming call', async () => {
    const result = await new Promise<{ sum: number; count: number }>((resolve, reject) => {
      const call = svcClient.Sum!((error: grpc.ServiceError | null, value: { sum: number; count: number }) =>
        error ? reject(error) : resolve(value),
      ) as grpc.ClientWritableStream<{ n: number }>;
      for (let n = 1; n <= 500; n += 1) call.write({ n });
      call.end();
    });
    expect(result).toEqual({ sum: 125_250, count: 500 });
  });

  it('carries a server-streaming call of 1,000 messages in order', async () => {
    const received: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = svcClient.Count!({ n: 1000 }) as grpc.ClientReadableStream<{ i: number }>;
      call.on('data', (message: { i: number }) => received.push(message.i));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    expect(received).toEqual(Array.from({ length: 1000 }, (_, k) => k + 1));
  });

  it('carries a bidi-streaming call, each answer before the next question', async () => {
    const answers: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = svcClient.Chat!() as grpc.ClientDuplexStream<{ text: string }, { text: string }>;
      let asked = 0;
      const ask = () => call.write({ text: `q${(asked += 1)}` });
      call.on('data', (message: { text: string }) => {
        answers.push(message.text);
        if (asked < 50) ask();
        else call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve());
      ask();
    });
    expect(answers).toEqual(Array.from({ length: 50 }, (_, k) => `re: q${k + 1}`));
  });

  it('carries an 8 MiB message each way intact', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    const result = await unary<Buffer>(svcClient, 'Big', big);
    expect(result.error).toBeUndefined();
    const expected = createHash('sha256').update(Buffer.from(big).reverse()).digest('hex');
    expect(result.value!.length).toBe(big.length);
    expect(createHash('sha256').update(result.value!).digest('hex')).toBe(expected);
  });

  it('tells the server app that the client cancelled a stream', async () => {
    const serverSawCancel = new Promise<void>((resolve) => (cancelled = resolve));
    const received: number[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = svcClient.Count!({ n: 100_000, slow: true }) as grpc.ClientReadableStream<{ i: number }>;
      call.on('data', (message: { i: number }) => {
        received.push(message.i);
        if (received.length === 10) call.cancel();
      });
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    expect(status.code).toBe(grpc.status.CANCELLED);
    await serverSawCancel; // the test times out if the reset never reaches the app
    expect(received.length).toBeLessThan(100_000);
  });

  it('delivers trailers metadata and the app’s own error status to the client', async () => {
    const ok = await unary(svcClient, 'Echo', { text: 'x' });
    expect(ok.trailers?.get('x-served-by')).toEqual(['orders']);
    const missing = await unary(svcClient, 'Echo', { text: 'missing' });
    expect(missing.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(missing.error?.details).toBe('order 7 not found');
    expect(missing.error?.metadata.get('x-reason')).toEqual(['no such order']);
  });

  it('keeps serving HTTP/1.1 on the same listener', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: inboundPort,
          path: '/plain',
          headers: { host: 'orders.shop' },
          cert: web.certPem,
          key: web.keyPem,
          ca: ca.certPem,
          agent: false,
          checkServerIdentity: () => undefined,
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${text}`));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe(`200 http1 ${WEB}`);
  });
});
