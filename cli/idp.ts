// `lanyard idp`: serve the identity provider, and administer its users and clients.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { systemClock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import { addClient, addUser, disableUser, listClients, listUsers, resetMfa } from '../idp/admin.ts';
import { createIdp } from '../idp/app.ts';
import { loadSecretKeyFile, parseSecretKey } from '../idp/secret-box.ts';
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

async function serve(
  values: { db?: string; postgres?: string; 'key-file'?: string; issuer?: string; listen?: string },
  io: CliIo,
): Promise<number> {
  const listen = values.listen ?? '127.0.0.1:9400';
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`bad --listen ${listen}`);
  const log = pino({ name: 'lanyard-idp' });
  const store = await openStore(values);
  const idp = await createIdp({
    issuer: values.issuer ?? `http://localhost:${port}`,
    store,
    secretKey: secretKey(values['key-file']),
    clock: systemClock,
    logger: log,
    registry: new Registry(),
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
