import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { isLanyardError } from '../lib/errors.ts';
import { testSigner } from '../test/helpers/ca.ts';
import { issueServingCert, MAX_SERVING_NAMES } from './serving-cert.ts';
import type { Signer } from './signer.ts';

const run = promisify(execFile);
const HOUR = 3600_000;
const names = ['lanyard-webhook.lanyard-system.svc', 'lanyard-webhook.lanyard-system.svc.cluster.local'];

let root: Awaited<ReturnType<typeof testSigner>>;
let intermediate: Awaited<ReturnType<typeof testSigner>>;
beforeAll(async () => {
  [root, intermediate] = await Promise.all([testSigner(), testSigner(true)]);
});

const key = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const issue = (signer: Signer, overrides: Partial<Parameters<typeof issueServingCert>[1]> = {}) =>
  issueServingCert(signer, {
    dnsNames: names,
    publicKey: key(),
    now: Date.now(),
    ttlMs: 24 * HOUR,
    ...overrides,
  });

/** `openssl verify` as a TLS client would: purpose sslserver and the host name it dialled. */
async function verifyAsServer(leafPem: string, rootPem: string, chainPems: readonly string[], host: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-serving-'));
  try {
    writeFileSync(join(dir, 'root.pem'), rootPem);
    writeFileSync(join(dir, 'leaf.pem'), leafPem);
    const args = [
      'verify',
      '-purpose',
      'sslserver',
      '-verify_hostname',
      host,
      '-CAfile',
      join(dir, 'root.pem'),
    ];
    if (chainPems.length > 0) {
      writeFileSync(join(dir, 'chain.pem'), chainPems.join(''));
      args.push('-untrusted', join(dir, 'chain.pem'));
    }
    return (await run('openssl', [...args, join(dir, 'leaf.pem')])).stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isLanyardError(error) ? error.code : 'not a LanyardError';
  }
  return undefined;
}

describe('issueServingCert', () => {
  it('issues a server certificate for the DNS names that a TLS client accepts for each name', async () => {
    const issued = issue(root.signer);
    expect(issued.cert.subjectAltName).toBe(names.map((n) => `DNS:${n}`).join(', '));
    expect(issued.cert.subject).toBe(`CN=${names[0]}`);
    expect(issued.cert.ca).toBe(false);
    expect(issued.cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    for (const host of names) {
      await expect(verifyAsServer(issued.cert.toString(), root.material.rootPem, [], host)).resolves.toMatch(
        /OK/,
      );
    }
    await expect(
      verifyAsServer(issued.cert.toString(), root.material.rootPem, [], 'other.svc'),
    ).rejects.toThrow();
  });

  it('chains through an intermediate signer', async () => {
    const issued = issue(intermediate.signer);
    expect(issued.cert.checkIssued(intermediate.signer.cert)).toBe(true);
    await expect(
      verifyAsServer(
        issued.cert.toString(),
        intermediate.material.rootPem,
        intermediate.material.chainPems,
        names[1]!,
      ),
    ).resolves.toMatch(/OK/);
  });

  it('carries IP SANs, IPv4 and IPv6', () => {
    const issued = issue(root.signer, { ipAddresses: ['127.0.0.1', '::1', 'fd00::a:1'] });
    expect(issued.cert.subjectAltName).toBe(
      `${names.map((n) => `DNS:${n}`).join(', ')}, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:A:1`,
    );
    expect(issued.cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('is usable neither as a client certificate nor as a workload identity', () => {
    const issued = issue(root.signer);
    expect(issued.cert.keyUsage).not.toContain('1.3.6.1.5.5.7.3.2');
    expect(issued.cert.subjectAltName).not.toMatch(/URI:/);
  });

  it('backdates NotBefore and never outlives the signer', () => {
    const now = Date.now();
    const issued = issue(root.signer, { now, ttlMs: 30 * 24 * HOUR });
    expect(issued.notBefore).toBeLessThan(now);
    expect(issued.notAfter).toBeLessThanOrEqual(now + 30 * 24 * HOUR);
    const late = root.signer.notAfter - 20 * 60_000;
    expect(issue(root.signer, { now: late }).notAfter).toBeLessThanOrEqual(root.signer.notAfter);
    expect(code(() => issue(root.signer, { now: root.signer.notAfter + 1000 }))).toBe('ERR_CA_UNAVAILABLE');
  });

  it.each([
    ['no DNS name', { dnsNames: [] }],
    ['an uppercase name', { dnsNames: ['Lanyard.svc'] }],
    ['a wildcard', { dnsNames: ['*.lanyard.svc'] }],
    ['an empty label', { dnsNames: ['lanyard..svc'] }],
    ['a label over 63 characters', { dnsNames: [`${'a'.repeat(64)}.svc`] }],
    ['a URI smuggled as a name', { dnsNames: ['spiffe://cluster.local/ns/a/sa/b'] }],
    ['too many names', { dnsNames: Array.from({ length: MAX_SERVING_NAMES + 1 }, (_, i) => `n${i}.svc`) }],
    ['a bad IP address', { ipAddresses: ['127.0.0.256'] }],
    ['a TTL under 10 minutes', { ttlMs: 60_000 }],
    ['a TTL over 30 days', { ttlMs: 31 * 24 * HOUR }],
  ])('refuses %s', (_what, overrides) => {
    expect(code(() => issue(root.signer, overrides))).toBe('ERR_CA_REQUEST_INVALID');
  });
});
