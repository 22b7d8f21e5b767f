import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../test/helpers/pki.ts';
import { issuedByAny, parseSubjectAltNames, verifyPeer, type PeerRequirements } from './peer.ts';

let ca: TestCa;
beforeAll(async () => {
  ca = await createTestCa();
});

const inbound: PeerRequirements = { trustDomains: new Set(['cluster.local']), role: 'client' };

async function leaf(uris: string[], usage: 'client' | 'server' | 'both' = 'both', dnsNames: string[] = []) {
  const pair = await ca.issue({ subject: 'CN=workload', uris, usage, dnsNames });
  return new X509Certificate(pair.certPem);
}

describe('verifyPeer', () => {
  it('reads the identity from the one SPIFFE URI SAN', async () => {
    const verdict = verifyPeer(await leaf(['spiffe://cluster.local/ns/shop/sa/web']), inbound);
    expect(verdict.ok && verdict.id.toString()).toBe('spiffe://cluster.local/ns/shop/sa/web');
  });

  it('refuses two URI SANs (no choosing the convenient one)', async () => {
    const cert = await leaf([
      'spiffe://cluster.local/ns/shop/sa/web',
      'spiffe://cluster.local/ns/ops/sa/admin',
    ]);
    expect(verifyPeer(cert, inbound)).toEqual({
      ok: false,
      reason: 'peer certificate has 2 URI SANs, not exactly one',
    });
  });

  it('refuses a certificate with only DNS names (the identity is never the CN or a DNS SAN)', async () => {
    const cert = await leaf([], 'both', ['web.shop.svc']);
    expect(verifyPeer(cert, inbound)).toMatchObject({
      ok: false,
      reason: /0 URI SANs/,
    });
  });

  it('refuses an untrusted trust domain', async () => {
    const cert = await leaf(['spiffe://evil.example/ns/shop/sa/web']);
    expect(verifyPeer(cert, inbound)).toMatchObject({
      ok: false,
      reason: /not trusted/,
    });
  });

  it('refuses a URI SAN that is not a strict SPIFFE ID (dot segments, encoding)', async () => {
    for (const uri of [
      'spiffe://cluster.local/ns/shop/../ops/sa/admin',
      'spiffe://cluster.local/ns/a%2Fb/sa/c',
    ]) {
      expect(verifyPeer(await leaf([uri]), inbound)).toMatchObject({ ok: false });
    }
  });

  it('refuses a client certificate without clientAuth and a server without serverAuth', async () => {
    const serverOnly = await leaf(['spiffe://cluster.local/ns/shop/sa/web'], 'server');
    expect(verifyPeer(serverOnly, inbound)).toMatchObject({
      ok: false,
      reason: /clientAuth/,
    });
    const clientOnly = await leaf(['spiffe://cluster.local/ns/shop/sa/web'], 'client');
    expect(verifyPeer(clientOnly, { ...inbound, role: 'server' })).toMatchObject({
      ok: false,
      reason: /serverAuth/,
    });
  });

  it('refuses a CA certificate presented as a workload', () => {
    expect(verifyPeer(new X509Certificate(ca.certPem), inbound)).toMatchObject({ ok: false, reason: /CA/ });
  });

  it('checks the exact expected server identity for outbound calls', async () => {
    const cert = await leaf(['spiffe://cluster.local/ns/shop/sa/orders']);
    const outbound = { ...inbound, role: 'server' as const };
    expect(verifyPeer(cert, { ...outbound, expectedId: 'spiffe://cluster.local/ns/shop/sa/orders' }).ok).toBe(
      true,
    );
    expect(
      verifyPeer(cert, { ...outbound, expectedId: 'spiffe://cluster.local/ns/shop/sa/payments' }),
    ).toMatchObject({
      ok: false,
    });
  });
});

describe('parseSubjectAltNames', () => {
  it('keeps a quoted value with separators as one entry', () => {
    expect(parseSubjectAltNames('URI:"spiffe://a, URI:spiffe://b", DNS:x')).toEqual([
      { type: 'URI', value: 'spiffe://a, URI:spiffe://b' },
      { type: 'DNS', value: 'x' },
    ]);
  });

  it('parses plain lists and nothing', () => {
    expect(parseSubjectAltNames('DNS:a, URI:spiffe://td/x')).toHaveLength(2);
    expect(parseSubjectAltNames(undefined)).toEqual([]);
  });
});

describe('issuedByAny', () => {
  it('accepts a certificate of one of the issuers while it is valid, and nothing else', async () => {
    const cert = new X509Certificate(
      (await ca.issue({ subject: 'CN=w', uris: ['spiffe://cluster.local/ns/shop/sa/web'], usage: 'both' }))
        .certPem,
    );
    const other = await createTestCa('other');
    const issuers = [new X509Certificate(other.certPem), new X509Certificate(ca.certPem)];
    const now = Date.now();
    expect(issuedByAny(cert, issuers, now)).toBe(true);
    expect(issuedByAny(cert, [new X509Certificate(other.certPem)], now)).toBe(false);
    expect(issuedByAny(cert, issuers, Date.parse(cert.validTo) + 1)).toBe(false);
    expect(issuedByAny(cert, issuers, Date.parse(cert.validFrom) - 1)).toBe(false);
  });

  it('refuses a self-made certificate that copies the issuer name', async () => {
    const forger = await createTestCa('lanyard-test-ca');
    const forged = new X509Certificate(
      (
        await forger.issue({
          subject: 'CN=w',
          uris: ['spiffe://cluster.local/ns/shop/sa/web'],
          usage: 'both',
        })
      ).certPem,
    );
    expect(issuedByAny(forged, [new X509Certificate(ca.certPem)], Date.now())).toBe(false);
  });
});
