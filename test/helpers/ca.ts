// A CA signer for unit tests, made once per test file: key generation is the slow part.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateAuthority, type AuthorityMaterial } from '../../ca/authority.ts';
import { loadSigner, type Signer } from '../../ca/signer.ts';
import { FakeClock } from './clock.ts';

const run = promisify(execFile);

export async function testSigner(
  intermediate = false,
): Promise<{ signer: Signer; material: AuthorityMaterial }> {
  const material = await generateAuthority({
    trustDomain: 'cluster.local',
    clock: new FakeClock(Date.now()),
    ...(intermediate ? { intermediateValidityMs: 30 * 24 * 3600_000 } : {}),
  });
  return { signer: loadSigner(material), material };
}

/** Runs `openssl verify` on a leaf with the bundle's roots and the chain (at a given time, else now). */
export async function opensslVerify(
  leafPem: string,
  rootPems: readonly string[],
  chainPems: readonly string[],
  atMs?: number,
) {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-openssl-'));
  try {
    writeFileSync(join(dir, 'leaf.pem'), leafPem);
    writeFileSync(join(dir, 'bundle.pem'), rootPems.join(''));
    const args = ['verify', '-CAfile', join(dir, 'bundle.pem')];
    if (atMs !== undefined) args.push('-attime', String(Math.floor(atMs / 1000)));
    if (chainPems.length > 0) {
      writeFileSync(join(dir, 'chain.pem'), chainPems.join(''));
      args.push('-untrusted', join(dir, 'chain.pem'));
    }
    return (await run('openssl', [...args, join(dir, 'leaf.pem')])).stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
