// The built-in identity provider as `lanyard dev` runs it: in this process, SQLite in the dev
// state folder, https on a loopback port (sidecars fetch JWKS over https only), demo users
// with passwords made for this run, and one public client for the scripted sign-in.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { addClient, addUser } from '../idp/admin.ts';
import { createIdp, type Idp } from '../idp/app.ts';
import { openSqliteStore } from '../idp/store/sqlite.ts';
import type { AuditRecord, IdpStore } from '../idp/store/types.ts';
import { base32Decode, hotp, totpStep } from '../idp/totp.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { createLoopbackTls } from './tls.ts';

export const DEMO_CLIENT_ID = 'demo-shop';
/** Exact, on loopback: the scripted client reads the code from the redirect and never fetches it. */
export const DEMO_REDIRECT_URI = 'http://127.0.0.1/demo-shop/callback';

export interface DemoUser {
  username: string;
  roles: string[];
  /** Made for this run; printed once as a demo credential. */
  password: string;
  /** The base32 TOTP secret once the user has enrolled an authenticator. */
  totpSecret?: string;
}

export interface DevIdp {
  readonly issuer: string;
  readonly jwksUri: string;
  /** The throwaway CA of the IdP's TLS certificate. */
  readonly caPem: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly users: ReadonlyMap<string, DemoUser>;
  /** The username behind a token subject (a user ID), for the live view. */
  usernameOf(sub: string | undefined): string | undefined;
  /** Enrols a TOTP authenticator for the user, as the enrolment page would; returns the secret. */
  enrolTotp(username: string): Promise<string>;
  /** A current code for the user, never one of a step already used: waits for the next step if need be. */
  totpCode(username: string): Promise<string>;
  /** The IdP's audit records, newest first. */
  audit(limit?: number): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

const DEMO_USERS: readonly { username: string; roles: string[] }[] = [
  { username: 'alice', roles: ['viewer'] },
  { username: 'bob', roles: ['manager'] },
  { username: 'mallory', roles: [] },
];

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

export async function startDevIdp(options: { stateDir: string; log?: Logger }): Promise<DevIdp> {
  const tls = await createLoopbackTls('lanyard dev IdP');
  // The port comes first, so that the issuer URL (which the IdP needs) can name it.
  let route: Idp['server']['routing'] | undefined;
  const https = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) =>
    route ? route(req, res) : res.writeHead(503).end(),
  );
  const port = await listen(https);
  const issuer = `https://127.0.0.1:${port}`;
  let store: IdpStore | undefined;
  let idp: Idp | undefined;
  const close = async () => {
    https.closeAllConnections();
    await new Promise((resolve) => https.close(resolve));
    await idp?.server.close();
    await store?.close();
  };
  try {
    store = openSqliteStore(join(options.stateDir, 'idp.db'));
    await store.migrate();
    idp = await createIdp({
      issuer,
      store,
      secretKey: randomBytes(32),
      clock: systemClock,
      logger: options.log ?? silentLogger,
      registry: new Registry(),
    });
    await idp.server.ready();
    const server = idp.server;
    route = (req, res) => server.routing(req, res);

    const users = new Map<string, DemoUser>();
    const subjects = new Map<string, string>();
    for (const { username, roles } of DEMO_USERS) {
      const password = randomBytes(12).toString('base64url');
      const record = await addUser(store, systemClock, { username, password, roles, groups: ['demo'] });
      users.set(username, { username, roles, password });
      subjects.set(record.id, username);
    }
    await addClient(store, systemClock, {
      id: DEMO_CLIENT_ID,
      name: 'the lanyard dev demo shop',
      redirectUris: [DEMO_REDIRECT_URI],
      confidential: false,
    });

    const lastStep = new Map<string, number>();
    const userOf = (username: string): DemoUser => {
      const user = users.get(username);
      if (!user) throw new TypeError(`no demo user ${username}`);
      return user;
    };
    const { mfa } = idp;
    const db = store;
    return {
      issuer,
      jwksUri: `${issuer}/jwks`,
      caPem: tls.caPem,
      clientId: DEMO_CLIENT_ID,
      redirectUri: DEMO_REDIRECT_URI,
      users,
      usernameOf: (sub) => (sub === undefined ? undefined : subjects.get(sub)),
      async enrolTotp(username) {
        const record = (await db.userByName(username))!;
        const { secret } = await mfa.beginEnrolment(record);
        // Confirmed with the previous step's code (within the IdP's one-step drift window), so
        // that the first sign-in can use the current step at once instead of waiting up to 30 s.
        const step = totpStep(Date.now()) - 1;
        await mfa.confirmEnrolment(record.id, hotp(base32Decode(secret), step));
        userOf(username).totpSecret = secret;
        lastStep.set(username, step);
        return secret;
      },
      async totpCode(username) {
        const secret = userOf(username).totpSecret;
        if (!secret) throw new TypeError(`${username} has no authenticator enrolled`);
        while (totpStep(Date.now()) <= (lastStep.get(username) ?? -1)) {
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        const step = totpStep(Date.now());
        lastStep.set(username, step);
        return hotp(base32Decode(secret), step);
      },
      audit: (limit = 100) => db.listAudit({ limit }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
