import type { BlockList } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Clock } from '../lib/clock.ts';
import type { GeoResolver } from '../lib/geo.ts';
import type { Logger } from '../lib/logger.ts';
import { Auditor } from './audit.ts';
import { DEFAULT_DEFENCES, LoginDefences, type DefenceConfig } from './defences.ts';
import { DEFAULT_SIGNING_KEY_OPTIONS, SigningKeys } from './keys.ts';
import { MfaService } from './mfa.ts';
import { nullNotifier, type Notifier } from './notify.ts';
import { PasswordChecker } from './password.ts';
import { RefreshTokens, type RefreshLifetimes } from './refresh.ts';
import { createSecretBox } from './secret-box.ts';
import { buildIdpServer } from './server.ts';
import type { IdpStore } from './store/types.ts';
import { ACCOUNT_POLICY, LoginThrottle, SOURCE_POLICY } from './throttle.ts';
import { DEFAULT_TOKEN_LIFETIMES, TokenService, type TokenLifetimes } from './tokens.ts';

export interface IdpConfig {
  issuer: string;
  store: IdpStore;
  /** 32 bytes: seals TOTP secrets and signing keys at rest. */
  secretKey: Buffer;
  clock: Clock;
  logger: Logger;
  registry: Registry;
  tokens?: TokenLifetimes;
  refresh?: RefreshLifetimes;
  delay?: (ms: number) => Promise<void>;
  /** Login-attack defences; DEFAULT_DEFENCES when absent. */
  defences?: DefenceConfig;
  /** Geolocation for impossible travel and new-country notices; both are off without it. */
  geo?: GeoResolver;
  /** Where security notices go (a webhook); nowhere but the audit log when absent. */
  notifier?: Notifier;
  /** Peers whose X-Forwarded-For is believed. */
  trustedProxies?: BlockList;
}

export const DEFAULT_REFRESH_LIFETIMES: RefreshLifetimes = Object.freeze({
  idleMs: 24 * 3600_000,
  absoluteMs: 30 * 24 * 3600_000,
});

export interface Idp {
  server: FastifyInstance;
  mfa: MfaService;
  keys: SigningKeys;
  audit: Auditor;
  defences: LoginDefences;
}

/** Wires the identity provider's parts; the store must be migrated already. */
export async function createIdp(config: IdpConfig): Promise<Idp> {
  const { store, clock } = config;
  const issuer = config.issuer.replace(/\/+$/, '');
  const box = createSecretBox(config.secretKey);
  const keys = new SigningKeys(store, box, clock, DEFAULT_SIGNING_KEY_OPTIONS);
  await keys.refresh();
  const audit = new Auditor(store, clock, config.logger, config.registry);
  const refresh = new RefreshTokens(store, clock, audit, config.refresh ?? DEFAULT_REFRESH_LIFETIMES);
  const tokens = new TokenService(
    issuer,
    store,
    keys,
    refresh,
    clock,
    config.tokens ?? DEFAULT_TOKEN_LIFETIMES,
  );
  const mfa = new MfaService(store, box, clock, new URL(issuer).host);
  const defences = new LoginDefences({
    store,
    clock,
    audit,
    notifier: config.notifier ?? nullNotifier,
    registry: config.registry,
    config: config.defences ?? DEFAULT_DEFENCES,
    ...(config.geo && { geo: config.geo }),
  });
  const server = buildIdpServer({
    issuer,
    store,
    keys,
    tokens,
    refresh,
    passwords: new PasswordChecker(store),
    mfa,
    audit,
    accountThrottle: new LoginThrottle(clock, ACCOUNT_POLICY),
    sourceThrottle: new LoginThrottle(clock, SOURCE_POLICY),
    clock,
    ...(config.delay && { delay: config.delay }),
    defences,
    ...(config.trustedProxies && { trustedProxies: config.trustedProxies }),
  });
  // Counters only, with bounded labels (event, outcome, reason, kind): no names or addresses.
  server.get('/metrics', async (_request, reply) =>
    reply.type(config.registry.contentType).send(await config.registry.metrics()),
  );
  return { server, mfa, keys, audit, defences };
}
