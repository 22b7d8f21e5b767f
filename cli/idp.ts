// `lanyard idp`: serve the identity provider, and administer its users and clients.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { Registry } from 'prom-client';
import { systemClock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { addClient, addUser, disableUser, listClients, listUsers, resetMfa } from '../idp/admin.ts';
import { createIdp } from '../idp/app.ts';
import { parseTrustedProxies } from '../idp/client-address.ts';
import { defenceConfig, parseActions, type DefenceConfig } from '../idp/defences.ts';
import { nullNotifier, readWebhookTokenFile, WebhookNotifier, type Notifier } from '../idp/notify.ts';
import { openGeoDatabase } from '../lib/geo.ts';
import { LanyardError } from '../lib/errors.ts';
import { loadSecretKeyFile, parseSecretKey } from '../idp/secret-box.ts';
import type { TokenExchangeConfig } from '../idp/token-exchange.ts';
import { openPostgresStore } from '../idp/store/postgres.ts';
import { openSqliteStore } from '../idp/store/sqlite.ts';
import type { IdpStore } from '../idp/store/types.ts';
import type { CliIo } from './run.ts';

export const idpUsage = `Usage: lanyard idp <command> [options]

Commands:
  serve                              Run the OpenID Connect provider
  users add <name> --password-stdin [--role R]... [--group G]...
  users list
  users disable <name>               Disable the user and revoke their refresh tokens
  users reset-mfa <name>             Remove the user's TOTP enrolment and recovery codes
  clients add <id> --redirect-uri URI [--redirect-uri URI]... [--name N] [--confidential]
  clients list

Store options (every command):
  --db <file>          SQLite database (default ./lanyard-idp.db)
  --postgres <url>     PostgreSQL instead (or LANYARD_IDP_POSTGRES_URL)
  --key-file <file>    AES-256 key sealing TOTP secrets and signing keys, mode 0600, created
                       when absent (default ./lanyard-idp.key); LANYARD_IDP_SECRET_KEY (base64) wins

Serve options:
  --issuer <url>       Issuer URL as clients reach it (default http://localhost:9400)
  --listen <host:port> Address to listen on (default 127.0.0.1:9400)
  --trusted-proxy <cidr>...   Peers whose X-Forwarded-For is believed (default none; or
                       LANYARD_IDP_TRUSTED_PROXIES, comma-separated)
  --webhook-url <url>  POST security notices here as JSON: https, or http on loopback (or
                       LANYARD_IDP_WEBHOOK_URL)
  --webhook-token-file <file>  send its token as "Authorization: Bearer" with each notice
                       (or LANYARD_IDP_WEBHOOK_TOKEN_FILE), e.g. to the mesh monitor
  --geoip <file>...    mmdb files for geolocation (default: the packaged GeoLite2 city data);
                       --geoip off turns impossible travel and new-country notices off
  Responses (comma-separated: mfa, block, notify, or none):
  --on-stuffing <r>    credential stuffing (default block,notify)
  --on-travel <r>      impossible travel (default mfa,notify)
  --on-new-device <r>  a device or country not seen before (default notify; no block)
  --stuffing-accounts <n>    distinct accounts failing from one address (default 10)
  --stuffing-window <s>      within this many seconds (default 600)
  --stuffing-block <s>       block the address for this long (default 900)
  --travel-max-kmh <n>       fastest plausible travel (default 1000)
  --travel-tolerance-km <n>  distance always allowed, for geolocation error (default 500)
  --travel-block <s>         block the account from that address for this long (default 900)
  --keep-devices <n>         devices and countries remembered per user (default 10)
  --tls-cert <file> --tls-key <file> --trust-bundle <file>
                       Serve HTTPS; workloads may authenticate with an X.509-SVID that chains
                       to the mesh trust bundle (token exchange)
  --exchange-config <file>
                       YAML/JSON: trustDomain, allow [{workload, audiences}], jwks {url|file},
                       jwtIssuer; enables RFC 8693 token exchange
  --require-mfa        Every user needs a second factor; one without it enrols at login
  LANYARD_IDP_ADMIN_TOKEN_SHA256
                       SHA-256 (hex) of the admin API bearer token; enables /admin/v1
`;

const options = {
  db: { type: 'string' },
  postgres: { type: 'string' },
  'key-file': { type: 'string' },
  issuer: { type: 'string' },
  listen: { type: 'string' },
  role: { type: 'string', multiple: true },
  group: { type: 'string', multiple: true },
  'password-stdin': { type: 'boolean' },
  'redirect-uri': { type: 'string', multiple: true },
  name: { type: 'string' },
  confidential: { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'trust-bundle': { type: 'string' },
  'exchange-config': { type: 'string' },
  'require-mfa': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'trusted-proxy': { type: 'string', multiple: true },
  'webhook-url': { type: 'string' },
  'webhook-token-file': { type: 'string' },
  geoip: { type: 'string', multiple: true },
  'on-stuffing': { type: 'string' },
  'on-travel': { type: 'string' },
  'on-new-device': { type: 'string' },
  'stuffing-accounts': { type: 'string' },
  'stuffing-window': { type: 'string' },
  'stuffing-block': { type: 'string' },
  'travel-max-kmh': { type: 'string' },
  'travel-tolerance-km': { type: 'string' },
  'travel-block': { type: 'string' },
  'keep-devices': { type: 'string' },
} as const;

type DefenceFlags = Partial<
  Record<
    | 'on-stuffing'
    | 'on-travel'
    | 'on-new-device'
    | 'stuffing-accounts'
    | 'stuffing-window'
    | 'stuffing-block'
    | 'travel-max-kmh'
    | 'travel-tolerance-km'
    | 'travel-block'
    | 'keep-devices',
    string
  >
>;

function numberFlag(values: DefenceFlags, name: keyof DefenceFlags, scale = 1): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(text)) {
    throw new LanyardError('ERR_CONFIG_INVALID', `--${name} must be a non-negative number`);
  }
  return Number(text) * scale;
}

/** The serve flags that tune the login defences, over the documented defaults. */
export function defencesFromFlags(values: DefenceFlags): DefenceConfig {
  const actions = (name: keyof DefenceFlags, allowed: Parameters<typeof parseActions>[1]) =>
    values[name] === undefined ? {} : { actions: parseActions(values[name], allowed) };
  const defined = <T extends object>(object: T): Partial<T> =>
    Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
  return defenceConfig({
    stuffing: defined({
      accounts: numberFlag(values, 'stuffing-accounts'),
      windowMs: numberFlag(values, 'stuffing-window', 1000),
      blockMs: numberFlag(values, 'stuffing-block', 1000),
      ...actions('on-stuffing', ['mfa', 'block', 'notify']),
    }),
    travel: defined({
      maxKmh: numberFlag(values, 'travel-max-kmh'),
      toleranceKm: numberFlag(values, 'travel-tolerance-km'),
      blockMs: numberFlag(values, 'travel-block', 1000),
      ...actions('on-travel', ['mfa', 'block', 'notify']),
    }),
    newDevice: defined({
      keep: numberFlag(values, 'keep-devices'),
      ...actions('on-new-device', ['mfa', 'notify']),
    }),
  });
}

async function openStore(values: { db?: string; postgres?: string }): Promise<IdpStore> {
  const postgres = values.postgres ?? process.env.LANYARD_IDP_POSTGRES_URL;
  const store = postgres ? openPostgresStore(postgres) : openSqliteStore(values.db ?? 'lanyard-idp.db');
  await store.migrate();
  return store;
}

function secretKey(keyFile: string | undefined): Buffer {
  const fromEnv = process.env.LANYARD_IDP_SECRET_KEY;
  return fromEnv
    ? parseSecretKey(fromEnv)
    : loadSecretKeyFile(keyFile ?? 'lanyard-idp.key', { create: true });
}

function readStdin(): string {
  return readFileSync(0, 'utf8').replace(/\r?\n$/, '');
}

export async function runIdp(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    io.err(`lanyard idp: ${(error as Error).message}\n\n${idpUsage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [area, action, target] = positionals;
  if (values.help || area === undefined) {
    io.out(idpUsage);
    return 0;
  }
  let store: IdpStore | undefined;
  try {
    if (area === 'serve') return await serve(values, io);
    store = await openStore(values);
    const clock = systemClock;
    if (area === 'users' && action === 'add' && target) {
      if (!values['password-stdin']) throw new UsageError('users add needs --password-stdin');
      const user = await addUser(store, clock, {
        username: target,
        password: readStdin(),
        roles: values.role ?? [],
        groups: values.group ?? [],
      });
      io.out(`added user ${user.username} (${user.id})\n`);
      return 0;
    }
    if (area === 'users' && action === 'list') {
      for (const user of await listUsers(store)) {
        const mfa = user.mfa ? 'mfa' : 'no-mfa';
        const state = user.disabled ? 'disabled' : 'enabled';
        io.out(
          `${user.username}\t${state}\t${mfa}\troles=${user.roles.join(',')}\tgroups=${user.groups.join(',')}\n`,
        );
      }
      return 0;
    }
    if (area === 'users' && action === 'disable' && target) {
      await disableUser(store, clock, target);
      io.out(`disabled ${target}; their refresh tokens are revoked\n`);
      return 0;
    }
    if (area === 'users' && action === 'reset-mfa' && target) {
      await resetMfa(store, target);
      io.out(`removed the TOTP enrolment and recovery codes of ${target}\n`);
      return 0;
    }
    if (area === 'clients' && action === 'add' && target) {
      const { client, secret } = await addClient(store, clock, {
        id: target,
        name: values.name ?? target,
        redirectUris: values['redirect-uri'] ?? [],
        confidential: values.confidential ?? false,
      });
      io.out(`added client ${client.id}\n`);
      if (secret) io.out(`client secret (shown once): ${secret}\n`);
      return 0;
    }
    if (area === 'clients' && action === 'list') {
      for (const client of await listClients(store)) {
        const kind = client.confidential ? 'confidential' : 'public';
        io.out(`${client.id}\t${kind}\t${client.redirectUris.join(' ')}\n`);
      }
      return 0;
    }
    throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`lanyard idp: ${error.message}\n\n${idpUsage}`);
      return 2;
    }
    if (isLanyardError(error)) {
      io.err(`lanyard idp: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await store?.close();
  }
}

class UsageError extends Error {}

interface ServeValues {
  db?: string;
  postgres?: string;
  'key-file'?: string;
  issuer?: string;
  listen?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'trust-bundle'?: string;
  'exchange-config'?: string;
  'require-mfa'?: boolean;
  'trusted-proxy'?: string[];
  'webhook-url'?: string;
  'webhook-token-file'?: string;
  geoip?: string[];
}

function httpsOptions(values: ServeValues): { cert: string; key: string; ca: string } | undefined {
  const files = [values['tls-cert'], values['tls-key'], values['trust-bundle']];
  if (files.every((file) => file === undefined)) return undefined;
  if (files.some((file) => file === undefined))
    throw new UsageError('--tls-cert, --tls-key and --trust-bundle go together');
  const [cert, key, ca] = files.map((file) => readFileSync(file!, 'utf8'));
  return { cert: cert!, key: key!, ca: ca! };
}

function exchangeConfig(file: string | undefined): TokenExchangeConfig | undefined {
  if (file === undefined) return undefined;
  const config = parseYaml(readFileSync(file, 'utf8')) as Partial<TokenExchangeConfig> | null;
  if (typeof config?.trustDomain !== 'string' || !Array.isArray(config.allow))
    throw new UsageError(`${file}: trustDomain and allow are required`);
  return config as TokenExchangeConfig;
}

/** The webhook notifier of --webhook-url and --webhook-token-file (or their variables), or none. */
export function notifierFromFlags(
  values: Pick<ServeValues, 'webhook-url' | 'webhook-token-file'>,
  env: NodeJS.ProcessEnv,
  registry: Registry,
  logger: Logger,
): Notifier {
  const url = values['webhook-url'] ?? env.LANYARD_IDP_WEBHOOK_URL;
  const tokenFile = values['webhook-token-file'] ?? env.LANYARD_IDP_WEBHOOK_TOKEN_FILE;
  if (tokenFile && !url) throw new UsageError('--webhook-token-file needs --webhook-url');
  if (!url) return nullNotifier;
  const token = tokenFile ? readWebhookTokenFile(tokenFile) : undefined;
  return new WebhookNotifier({ url, registry, logger, ...(token !== undefined && { token }) });
}

async function serve(values: ServeValues & DefenceFlags, io: CliIo): Promise<number> {
  const listen = values.listen ?? '127.0.0.1:9400';
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`bad --listen ${listen}`);
  const https = httpsOptions(values);
  const tokenExchange = exchangeConfig(values['exchange-config']);
  const adminTokenSha256 = process.env.LANYARD_IDP_ADMIN_TOKEN_SHA256;
  const log = pino({ name: 'lanyard-idp' });
  const defences = defencesFromFlags(values);
  const proxies =
    values['trusted-proxy'] ??
    (process.env.LANYARD_IDP_TRUSTED_PROXIES?.split(',').filter((entry) => entry.trim() !== '') || []);
  const trustedProxies = proxies.length ? parseTrustedProxies(proxies) : undefined;
  const geoip = values.geoip ?? [];
  const geo = geoip.includes('off') ? undefined : openGeoDatabase(geoip);
  const registry = new Registry();
  const notifier = notifierFromFlags(values, process.env, registry, log);
  const store = await openStore(values);
  const idp = await createIdp({
    issuer: values.issuer ?? `${https ? 'https' : 'http'}://localhost:${port}`,
    store,
    secretKey: secretKey(values['key-file']),
    clock: systemClock,
    logger: log,
    registry,
    defences,
    notifier,
    ...(geo && { geo }),
    ...(trustedProxies && { trustedProxies }),
    ...(https && { https }),
    ...(tokenExchange && { tokenExchange }),
    ...(adminTokenSha256 && { adminTokenSha256: adminTokenSha256.trim().toLowerCase() }),
    ...(values['require-mfa'] && { requireMfa: true }),
  });
  const address = await idp.server.listen({ host, port });
  io.out(`lanyard idp listening on ${address}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await idp.server.close();
  await notifier.close();
  await store.close();
  return 0;
}
