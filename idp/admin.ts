import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { idpError } from './errors.ts';
import { hashPassword } from './password.ts';
import { hashToken } from './refresh.ts';
import type { ClientRecord, IdpStore, UserRecord } from './store/types.ts';

const NAME = /^[A-Za-z0-9._@-]{1,128}$/;
const LABEL = /^[A-Za-z0-9._:-]{1,64}$/;

function checkLabels(kind: string, values: string[]): void {
  if (values.length > 32 || values.some((value) => !LABEL.test(value))) {
    throw idpError(
      'ERR_IDP_REQUEST_INVALID',
      `${kind} must be at most 32 names of letters, digits and . _ : -`,
    );
  }
}

/** The admin operations behind `lanyard idp users|clients`; inputs checked before anything is written. */
export async function addUser(
  store: IdpStore,
  clock: Clock,
  input: { username: string; password: string; roles: string[]; groups: string[] },
): Promise<UserRecord> {
  if (!NAME.test(input.username)) {
    throw idpError('ERR_IDP_REQUEST_INVALID', 'a username is 1 to 128 letters, digits and . _ @ -');
  }
  checkLabels('roles', input.roles);
  checkLabels('groups', input.groups);
  const user: UserRecord = {
    id: randomUUID(),
    username: input.username,
    passwordHash: await hashPassword(input.password),
    roles: input.roles,
    groups: input.groups,
    disabled: false,
    createdAt: clock.now(),
  };
  await store.createUser(user);
  return user;
}

export function checkRedirectUri(uri: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw idpError('ERR_IDP_REQUEST_INVALID', `redirect URI ${JSON.stringify(uri)} is not a URL`);
  }
  const loopback = url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if ((url.protocol !== 'https:' && !loopback) || url.hash || uri.length > 1024) {
    throw idpError(
      'ERR_IDP_REQUEST_INVALID',
      'a redirect URI is https (or http on loopback), without a fragment',
    );
  }
}

/** Registers a client; a confidential client gets a secret, returned once and stored hashed. */
export async function addClient(
  store: IdpStore,
  clock: Clock,
  input: { id: string; name: string; redirectUris: string[]; confidential: boolean },
): Promise<{ client: ClientRecord; secret: string | null }> {
  if (!NAME.test(input.id))
    throw idpError('ERR_IDP_REQUEST_INVALID', 'a client ID is 1 to 128 letters, digits and . _ @ -');
  if (input.redirectUris.length === 0 || input.redirectUris.length > 16) {
    throw idpError('ERR_IDP_REQUEST_INVALID', 'a client has 1 to 16 redirect URIs');
  }
  input.redirectUris.forEach(checkRedirectUri);
  const secret = input.confidential ? randomBytes(32).toString('base64url') : null;
  const client: ClientRecord = {
    id: input.id,
    name: input.name.slice(0, 128) || input.id,
    secretHash: secret === null ? null : hashToken(secret),
    redirectUris: input.redirectUris,
    createdAt: clock.now(),
  };
  await store.createClient(client);
  return { client, secret };
}

async function existingUser(store: IdpStore, username: string): Promise<UserRecord> {
  const user = NAME.test(username) ? await store.userByName(username) : null;
  if (!user) throw idpError('ERR_IDP_NOT_FOUND', `no user ${username.slice(0, 128)}`);
  return user;
}

/** Disables the user and ends every refresh-token family: no new tokens from then on. */
export async function disableUser(store: IdpStore, clock: Clock, username: string): Promise<UserRecord> {
  const user = await existingUser(store, username);
  await store.setUserDisabled(user.id, true);
  await store.revokeUserRefreshFamilies(user.id, 'user_disabled', clock.now());
  return { ...user, disabled: true };
}

export async function resetMfa(store: IdpStore, username: string): Promise<UserRecord> {
  const user = await existingUser(store, username);
  await store.resetMfa(user.id);
  return user;
}

/** What listing shows of a user: never the password hash. */
export interface UserSummary {
  id: string;
  username: string;
  disabled: boolean;
  mfa: boolean;
  roles: string[];
  groups: string[];
  createdAt: number;
}

export async function summarizeUser(store: IdpStore, user: UserRecord): Promise<UserSummary> {
  const mfa = (await store.totpOf(user.id))?.confirmed === true;
  const { id, username, disabled, roles, groups, createdAt } = user;
  return { id, username, disabled, mfa, roles, groups, createdAt };
}

export const MAX_LIST = 10_000;

export async function listUsers(store: IdpStore, limit = MAX_LIST): Promise<UserSummary[]> {
  const users = await store.listUsers(Math.min(Math.max(1, limit), MAX_LIST));
  return Promise.all(users.map((user) => summarizeUser(store, user)));
}

/** What listing shows of a client: never the secret's hash. */
export interface ClientSummary {
  id: string;
  name: string;
  confidential: boolean;
  redirectUris: string[];
  createdAt: number;
}

export function summarizeClient(client: ClientRecord): ClientSummary {
  const { id, name, redirectUris, createdAt } = client;
  return { id, name, confidential: client.secretHash !== null, redirectUris, createdAt };
}

export async function listClients(store: IdpStore, limit = MAX_LIST): Promise<ClientSummary[]> {
  return (await store.listClients(Math.min(Math.max(1, limit), MAX_LIST))).map(summarizeClient);
}
