// A whole CA (key store, keyring, gRPC server) in this process, listening on a free port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Attestor, IdentityPolicy } from '../../ca/attestor.ts';
import { CallerAuthenticator } from '../../ca/caller-auth.ts';
import { CertificateAuthority } from '../../ca/certificate-authority.ts';
import { FileKeyStore } from '../../ca/file-keystore.ts';
import { startCaServer, type CaServer } from '../../ca/grpc-server.ts';
import { JoinTokens } from '../../ca/join-tokens.ts';
import type { KeyStore } from '../../ca/keystore.ts';
import { Keyring } from '../../ca/keyring.ts';
import { createCaMetrics } from '../../ca/metrics.ts';
import type { RotationPolicy } from '../../ca/rotation.ts';
import { DEFAULT_TTL_POLICY } from '../../ca/ttl.ts';
import type { Logger } from '../../lib/logger.ts';
import { FakeClock } from './clock.ts';

export const CA_SPIFFE_ID = 'spiffe://cluster.local/ns/lanyard-system/sa/lanyard';
const DAY = 24 * 3600_000;

export const TEST_ROTATION: RotationPolicy = {
  prepareAtFraction: 0.5,
  overlapMs: DAY,
  leafLifetimeMs: DEFAULT_TTL_POLICY.maxMs + DEFAULT_TTL_POLICY.skewMs,
  jwtKeyRotationMs: 7 * DAY,
  jwtLifetimeMs: 10 * 60_000,
};

export interface TestCaServer {
  readonly address: string;
  readonly server: CaServer;
  readonly ca: CertificateAuthority;
  readonly keyring: Keyring;
  readonly joinTokens: JoinTokens;
  readonly clock: FakeClock;
  readonly registry: Registry;
  rootsPem(): string;
  close(): Promise<void>;
}

export async function startTestCaServer(
  options: {
    serviceAccountTokens?: Attestor;
    policy?: IdentityPolicy;
    ratePerSecond?: number;
    attestationsPerSecond?: number;
    store?: KeyStore;
    rootValidityMs?: number;
    logger?: Logger;
    port?: number;
    signingTurnMs?: number;
  } = {},
): Promise<TestCaServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-ca-'));
  const clock = new FakeClock(Date.now());
  const keyring = await Keyring.open({
    store: options.store ?? new FileKeyStore(join(dir, 'ca.json')),
    trustDomain: 'cluster.local',
    clock,
    rotation: TEST_ROTATION,
    ...(options.rootValidityMs ? { rootValidityMs: options.rootValidityMs } : {}),
  });
  const ca = new CertificateAuthority({
    keyring,
    clock,
    ttl: DEFAULT_TTL_POLICY,
    jwtIssuer: 'https://ca.test',
  });
  const joinTokens = new JoinTokens(clock, options.policy);
  const auth = new CallerAuthenticator({
    trustDomain: 'cluster.local',
    clock,
    keyring,
    joinTokens,
    ...(options.serviceAccountTokens ? { serviceAccountTokens: options.serviceAccountTokens } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
  });
  const registry = new Registry();
  const server = await startCaServer({
    ca,
    auth,
    trustDomain: 'cluster.local',
    serverIdentity: { trustDomain: 'cluster.local', namespace: 'lanyard-system', serviceAccount: 'lanyard' },
    clock,
    metrics: createCaMetrics(registry, keyring),
    host: '127.0.0.1',
    port: options.port ?? 0,
    ...(options.ratePerSecond ? { ratePerSecond: options.ratePerSecond } : {}),
    ...(options.attestationsPerSecond ? { attestationsPerSecond: options.attestationsPerSecond } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signingTurnMs !== undefined ? { signingTurnMs: options.signingTurnMs } : {}),
  });
  return {
    address: `127.0.0.1:${server.port}`,
    server,
    ca,
    keyring,
    joinTokens,
    clock,
    registry,
    rootsPem: () => ca.bundle().rootPems.join(''),
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
