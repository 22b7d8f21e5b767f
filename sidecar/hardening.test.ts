// Request smuggling and resource exhaustion against the inbound listener, over raw sockets: the
// request never reaches the app.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies } from '../lib/policy/index.ts';
import { createTestCa } from '../test/helpers/pki.ts';
import { createAppForwarder } from './app-forwarder.ts';
import { createInboundPipeline } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';
import { createInboundListener, type InboundListener } from './listener.ts';

let app: Server;
let listener: InboundListener;
let port: number;
let appRequests = 0;

beforeAll(async () => {
  const ca = await createTestCa();
  const orders = await ca.issue({
    subject: 'CN=o',
    uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
    usage: 'both',
  });
  app = createServer((req, res) => {
    appRequests += 1;
    req.resume();
    req.on('end', () => res.end('app'));
  });
  const appPort = await new Promise<number>((resolve) =>
    app.listen(0, '127.0.0.1', () => resolve((app.address() as { port: number }).port)),
  );
  // PERMISSIVE, allow-all: every refusal below comes from HTTP framing, not from policy.
  const { index } = compilePolicies([
    {
      metadata: { name: 'open', namespace: 'shop' },
      spec: { mtls: 'PERMISSIVE', action: 'ALLOW', rules: [{ to: [{ paths: ['/{**}'] }] }] },
    },
  ]);
  const view = index.forWorkload({ namespace: 'shop', labels: {} });
  const forwarder = createAppForwarder({
    pipeline: createInboundPipeline({
      policy: () => view,
      normalizePath,
      validatorFor: (i) => createJwtValidator(i),
    }),
    appPort,
    onDecision: () => undefined,
  });
  listener = createInboundListener({
    tls: { certChainPem: orders.certPem, keyPem: orders.keyPem, bundlePem: ca.certPem },
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => view.mtls,
    handle: forwarder.handle,
    headersTimeoutMs: 300,
  });
  port = await listener.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await listener.close();
  app.close();
});

/** Sends raw bytes and returns everything the server answered until it closed or went quiet. */
function raw(bytes: string, quietMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    const timer = setTimeout(() => socket.destroy(), quietMs);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('error', reject);
  });
}

describe('inbound HTTP hardening', () => {
  it('serves a well-formed plaintext request in PERMISSIVE mode (the baseline)', async () => {
    const answer = await raw('GET /ok HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('refuses Content-Length together with Transfer-Encoding (CL.TE smuggling)', async () => {
    const before = appRequests;
    const answer = await raw(
      'POST /a HTTP/1.1\r\nHost: orders\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: orders\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(appRequests).toBe(before);
  });

  it('refuses two different Content-Length headers', async () => {
    const before = appRequests;
    const answer = await raw(
      'POST /a HTTP/1.1\r\nHost: orders\r\nContent-Length: 1\r\nContent-Length: 5\r\n\r\nhello',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(appRequests).toBe(before);
  });

  it('refuses headers beyond the size limit with 431', async () => {
    const answer = await raw(`GET /a HTTP/1.1\r\nHost: orders\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('cuts off a client that trickles its headers (slowloris)', async () => {
    // Sends a partial request and nothing more: the server must answer 408 or close, on its own.
    const answer = await raw('GET /a HTTP/1.1\r\nHost: orders\r\nX-Slow: ', 5000);
    expect(answer === '' || /^HTTP\/1\.1 408 /.test(answer)).toBe(true);
  });
});
