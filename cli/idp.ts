// `lanyard idp`: serve the identity provider, and administer its users and clients.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { Registry } from 'prom-client';
import { systemClock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import { addClient, addUser, disableUser, listClients, listUsers, resetMfa } from '../idp/admin.ts';
import { createIdp } from '../idp/app.ts';
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
} as const;

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

async function serve(values: ServeValues, io: CliIo): Promise<number> {
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
  const store = await openStore(values);
  const idp = await createIdp({
    issuer: values.issuer ?? `${https ? 'https' : 'http'}://localhost:${port}`,
    store,
    secretKey: secretKey(values['key-file']),
    clock: systemClock,
    logger: log,
    registry: new Registry(),
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
  await store.close();
  return 0;
}
