import { request as httpRequest } from 'node:http';
import { request as httpsRequest, Agent } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createInboundListener, type InboundListener, type TlsMaterial } from './listener.ts';

let ca: TestCa;
let server: PemPair;
let client: PemPair;
const asClient = () => ({ cert: client.certPem, key: client.keyPem });
let listener: InboundListener | undefined;
let mode: 'STRICT' | 'PERMISSIVE' = 'STRICT';
const refused: string[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  server = await ca.issue({
    subject: 'CN=orders',
    uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
    usage: 'both',
  });
  client = await ca.issue({
    subject: 'CN=web',
    uris: ['spiffe://cluster.local/ns/shop/sa/web'],
    usage: 'both',
  });
});

afterEach(async () => {
  await listener?.close();
  listener = undefined;
  refused.length = 0;
  mode = 'STRICT';
});

function material(pair: PemPair): TlsMaterial {
  return { certChainPem: pair.certPem, keyPem: pair.keyPem, bundlePem: ca.certPem };
}

async function start(): Promise<number> {
  listener = createInboundListener({
    tls: material(server),
    trustDomains: () => new Set(['cluster.local']),
    mtlsMode: () => mode,
    handle: (exchange, peer) => exchange.respond(200, [], peer?.ok ? peer.id.toString() : 'plaintext'),
    onRefused: (reason) => refused.push(reason),
  });
  return listener.listen(0, '127.0.0.1');
}

function getTls(port: number, options: { cert?: string; key?: string; ca?: string; agent?: Agent } = {}) {
  return new Promise<{ body: string; serverCert: string }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        ca: options.ca ?? ca.certPem,
        cert: options.cert,
        key: options.key,
        agent: options.agent ?? false,
        checkServerIdentity: () => undefined, // the SPIFFE check is peer.ts's job, tested there
      },
      (res) => {
        const serverCert = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ body, serverCert }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function getPlain(port: number) {
  return new Promise<string>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('inbound listener', () => {
  it('serves mTLS and hands the handler the verified peer identity', async () => {
    const port = await start();
    const { body } = await getTls(port, asClient());
    expect(body).toBe('spiffe://cluster.local/ns/shop/sa/web');
  });

  it('refuses a client without a certificate', async () => {
    const port = await start();
    await expect(getTls(port)).rejects.toThrow();
    expect(refused.join('\n')).toMatch(/certificate/i);
  });

  it('refuses a client certificate from another CA', async () => {
    const other = await (
      await createTestCa('other-ca')
    ).issue({
      subject: 'CN=web',
      uris: ['spiffe://cluster.local/ns/shop/sa/web'],
      usage: 'both',
    });
    const port = await start();
    await expect(getTls(port, { cert: other.certPem, key: other.keyPem })).rejects.toThrow();
  });

  it('refuses plaintext while STRICT and serves it without identity while PERMISSIVE', async () => {
    const port = await start();
    await expect(getPlain(port)).rejects.toThrow();
    expect(refused).toContain('plaintext connection while mTLS is STRICT');
    mode = 'PERMISSIVE';
    expect(await getPlain(port)).toBe('plaintext');
    expect((await getTls(port, asClient())).body).toBe('spiffe://cluster.local/ns/shop/sa/web');
  });

  it('rotates its certificate for new connections without dropping open ones', async () => {
    const port = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ...asClient() });
    const before = await getTls(port, { ...asClient(), agent });
    const rotated = await ca.issue({
      subject: 'CN=orders',
      uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
      usage: 'both',
    });
    listener!.rotate(material(rotated));
    const reused = await getTls(port, { ...asClient(), agent });
    const fresh = await getTls(port, asClient());
    expect(reused.serverCert).toBe(before.serverCert);
    expect(fresh.serverCert).not.toBe(before.serverCert);
    agent.destroy();
  });
});

describe('inbound listener shutdown', () => {
  it('lets a request in flight finish, then refuses new connections', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slow = createInboundListener({
      tls: material(server),
      trustDomains: () => new Set(['cluster.local']),
      mtlsMode: () => 'STRICT',
      handle: (exchange) => void released.then(() => exchange.respond(200, [], 'finished')),
    });
    const port = await slow.listen(0, '127.0.0.1');
    const inFlight = getTls(port, asClient());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = slow.close(5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(getTls(port, asClient())).rejects.toThrow();
    release();
    expect((await inFlight).body).toBe('finished');
    await closing;
  });
});
