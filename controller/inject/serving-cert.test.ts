import { X509Certificate } from 'node:crypto';
import { connect, createServer, type Server } from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Signer } from '../../ca/signer.ts';
import { testSigner } from '../../test/helpers/ca.ts';
import { FakeClock } from '../../test/helpers/clock.ts';
import { ServingCertificate, webhookDnsNames } from './serving-cert.ts';

const HOUR = 3600_000;
let first: Awaited<ReturnType<typeof testSigner>>;
let second: Awaited<ReturnType<typeof testSigner>>;
let intermediate: Awaited<ReturnType<typeof testSigner>>;
beforeAll(async () => {
  [first, second, intermediate] = await Promise.all([testSigner(), testSigner(), testSigner(true)]);
});

const names = webhookDnsNames('lanyard-webhook', 'lanyard-system');
let servers: Server[] = [];
afterEach(() => {
  for (const server of servers) server.close();
  servers = [];
});

function manager(signer: () => Signer, clock = new FakeClock(Date.now())) {
  return { clock, serving: new ServingCertificate({ signer, dnsNames: names, ttlMs: 24 * HOUR, clock }) };
}

/** A real TLS handshake against the PEMs, verifying the server as the API server would. */
async function handshake(tls: { certPem: string; keyPem: string }, rootPem: string, servername: string) {
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (socket) => socket.end());
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    ca: rootPem,
    servername,
  });
  try {
    await once(socket, 'secureConnect');
    return new X509Certificate(socket.getPeerX509Certificate()!.raw);
  } finally {
    socket.destroy();
  }
}

describe('webhookDnsNames', () => {
  it('names the Service in its .svc and fully qualified forms', () => {
    expect(names).toEqual([
      'lanyard-webhook.lanyard-system.svc',
      'lanyard-webhook.lanyard-system.svc.cluster.local',
    ]);
  });
});

describe('ServingCertificate', () => {
  it('issues on the first check a certificate that a TLS client trusting the root accepts', async () => {
    const { serving } = manager(() => first.signer);
    expect(serving.tls).toBeUndefined();
    expect(serving.check()).toBe(true);
    const peer = await handshake(serving.tls!, first.material.rootPem, names[0]!);
    expect(peer.fingerprint256).toBe(serving.certificate!.fingerprint256);
    await expect(handshake(serving.tls!, second.material.rootPem, names[0]!)).rejects.toThrow();
  });

  it('sends the intermediates with the leaf, so a client holding only the root verifies it', async () => {
    const { serving } = manager(() => intermediate.signer);
    serving.check();
    const peer = await handshake(serving.tls!, intermediate.material.rootPem, names[1]!);
    expect(peer.checkIssued(intermediate.signer.cert)).toBe(true);
  });

  it('renews at half-life, not before, with a fresh key each time', () => {
    const { serving, clock } = manager(() => first.signer);
    serving.check();
    const before = serving.tls!;
    clock.advance(11 * HOUR);
    expect(serving.check()).toBe(false);
    clock.advance(1 * HOUR + 60_000);
    expect(serving.check()).toBe(true);
    expect(serving.tls!.certPem).not.toBe(before.certPem);
    expect(serving.tls!.keyPem).not.toBe(before.keyPem);
  });

  it('renews at once when the signer changes, and tells its listeners', async () => {
    let signer = first.signer;
    const { serving } = manager(() => signer);
    const renewed: string[] = [];
    serving.onRenew((tls) => renewed.push(tls.certPem));
    serving.check();
    expect(serving.check()).toBe(false);
    signer = second.signer;
    expect(serving.check()).toBe(true);
    expect(renewed).toHaveLength(2);
    expect(serving.certificate!.checkIssued(second.signer.cert)).toBe(true);
    await expect(handshake(serving.tls!, second.material.rootPem, names[0]!)).resolves.toBeDefined();
  });

  it('keeps the held certificate when a renewal fails', () => {
    let signer = first.signer;
    const { serving, clock } = manager(() => signer);
    serving.check();
    const held = serving.tls;
    clock.advance(13 * HOUR);
    signer = { ...first.signer, notAfter: clock.now() - 1 };
    expect(serving.check()).toBe(false);
    expect(serving.tls).toBe(held);
  });
});
