// The CA both CA benchmarks measure: a file-backed keyring in `dir` with day-long rotation
// periods (nothing rotates during a run) and the default TTL policy.
import { join } from 'node:path';
import { CertificateAuthority } from '../../ca/certificate-authority.ts';
import { FileKeyStore } from '../../ca/file-keystore.ts';
import { Keyring } from '../../ca/keyring.ts';
import { DEFAULT_TTL_POLICY } from '../../ca/ttl.ts';
import { systemClock } from '../../lib/clock.ts';

const DAY_MS = 86_400_000;

export async function openBenchCa(dir: string): Promise<{ keyring: Keyring; ca: CertificateAuthority }> {
  const keyring = await Keyring.open({
    store: new FileKeyStore(join(dir, 'ca.json')),
    trustDomain: 'cluster.local',
    clock: systemClock,
    rotation: {
      prepareAtFraction: 0.5,
      overlapMs: DAY_MS,
      leafLifetimeMs: DAY_MS,
      jwtKeyRotationMs: DAY_MS,
      jwtLifetimeMs: 600_000,
    },
  });
  const ca = new CertificateAuthority({
    keyring,
    clock: systemClock,
    ttl: DEFAULT_TTL_POLICY,
    jwtIssuer: 'https://ca.bench',
  });
  return { keyring, ca };
}
