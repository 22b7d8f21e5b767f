import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { openTestIdp, type TestIdp } from '../test/helpers/idp.ts';
import { ADMIN_PREFIX } from './admin-api.ts';
import type { Idp } from './app.ts';
import { hashToken } from './refresh.ts';
import type { SqlStore } from './store/sql-store.ts';
import { base32Decode, hotp, totpStep } from './totp.ts';

const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const clock = new FakeClock(Date.UTC(2026, 5, 1, 9, 0, 5));
let store: SqlStore;
let idp: Idp;
let testIdp: TestIdp;

beforeAll(async () => {
  testIdp = await openTestIdp({
    clock,
    adminTokenSha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex'),
  });
  ({ store, idp } = testIdp);
});
afterAll(() => testIdp.close());

async function call(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  token: string | null = ADMIN_TOKEN,
  contentType = 'application/json',
) {
  const response = await idp.server.inject({
    method,
    url: `${ADMIN_PREFIX}${path}`,
    headers: {
      ...(token !== null && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': contentType }),
    },
    ...(body !== undefined && { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    body: response.json<unknown>(),
  };
}

describe('admin API authentication', () => {
  it('refuses a request without a token or with a wrong one, and records it', async () => {
    const missing = await call('GET', '/users', undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(missing.body).toMatchObject({ status: 401, code: 'ERR_IDP_ADMIN_UNAUTHORIZED' });
    expect((await call('GET', '/users', undefined, `${ADMIN_TOKEN}x`)).status).toBe(401);
    expect((await call('GET', '/users', undefined, ADMIN_TOKEN.slice(1))).status).toBe(401);
    const wrongScheme = await idp.server.inject({
      method: 'GET',
      url: `${ADMIN_PREFIX}/users`,
      headers: { authorization: `Basic ${ADMIN_TOKEN}` },
    });
    expect(wrongScheme.statusCode).toBe(401);
    // A refused write leaves nothing behind.
    const write = await call('POST', '/users', { username: 'mallory', password: 'a long password' }, 'nope');
    expect(write.status).toBe(401);
    expect(await store.userByName('mallory')).toBeNull();
    const audit = await store.listAudit({ limit: 1 });
    expect(audit[0]).toMatchObject({
      event: 'admin',
      outcome: 'failure',
      reason: 'authenticate:ERR_IDP_ADMIN_UNAUTHORIZED',
    });
  });
});

describe('admin API users', () => {
  it('adds a user, lists them without secrets, and records the operation', async () => {
    const added = await call('POST', '/users', {
      username: 'bob',
      password: 'bob password 1',
      roles: ['viewer'],
      groups: ['shop'],
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({
      user: { username: 'bob', roles: ['viewer'], groups: ['shop'], mfa: false },
    });
    expect(JSON.stringify(added.body)).not.toMatch(/password|argon2/i);
    const stored = await store.userByName('bob');
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$/);
    const list = await call('GET', '/users');
    expect(list.status).toBe(200);
    const users = (list.body as { users: { username: string }[] }).users;
    expect(users.map((user) => user.username)).toContain('bob');
    expect(JSON.stringify(list.body)).not.toMatch(/argon2/);
    const audit = await store.listAudit({ limit: 5, username: 'bob' });
    expect(audit[0]).toMatchObject({
      event: 'admin',
      outcome: 'success',
      reason: 'user_add',
      userId: stored!.id,
    });
  });

  it('answers bad input with 400 and changes nothing', async () => {
    const before = (await store.listUsers(100)).length;
    const cases: unknown[] = [
      { username: 'carol', password: 'short' },
      { username: 'bad name', password: 'a long password' },
      { username: 'carol', password: 'a long password', roles: ['ok', 'not ok'] },
      { username: 'carol', password: 'a long password', admin: true },
      { username: 'carol', password: 12345678 },
      { username: 'carol' },
      ['carol'],
      '{"username": "carol", ',
    ];
    for (const body of cases) {
      const response = await call('POST', '/users', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body).toMatchObject({ status: 400, code: 'ERR_IDP_REQUEST_INVALID' });
    }
    const form = await call(
      'POST',
      '/users',
      'username=carol',
      ADMIN_TOKEN,
      'application/x-www-form-urlencoded',
    );
    expect(form.status).toBe(400);
    expect((await store.listUsers(100)).length).toBe(before);
    expect(await store.userByName('carol')).toBeNull();
  });

  it('refuses a duplicate username with 409, keeping the first user', async () => {
    const first = await store.userByName('bob');
    const again = await call('POST', '/users', { username: 'bob', password: 'another password' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'ERR_IDP_STORE' });
    expect((await store.userByName('bob'))?.passwordHash).toBe(first?.passwordHash);
  });

  it('disables a user, revoking their refresh tokens', async () => {
    const user = (await store.userByName('bob'))!;
    await idp.tokens.forCode({
      userId: user.id,
      clientId: 'web',
      scope: 'openid',
      nonce: null,
      auth: { amr: ['pwd'], authTime: clock.now() },
    });
    const disabled = await call('POST', '/users/bob/disable');
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ user: { username: 'bob', disabled: true } });
    expect((await store.userByName('bob'))?.disabled).toBe(true);
    expect(await store.revokeUserRefreshFamilies(user.id, 'check', clock.now())).toBe(0);
    expect(await call('POST', '/users/nobody/disable')).toMatchObject({
      status: 404,
      body: { code: 'ERR_IDP_NOT_FOUND' },
    });
  });

  it('resets a user’s MFA enrolment', async () => {
    const dana = (await call('POST', '/users', { username: 'dana', password: 'dana password 1' })).body as {
      user: { id: string };
    };
    const user = (await store.userById(dana.user.id))!;
    const enrolment = await idp.mfa.beginEnrolment(user);
    await idp.mfa.confirmEnrolment(user.id, hotp(base32Decode(enrolment.secret), totpStep(clock.now())));
    expect((await call('GET', '/users')).body).toMatchObject({
      users: expect.arrayContaining([expect.objectContaining({ username: 'dana', mfa: true })]) as unknown,
    });
    const reset = await call('POST', '/users/dana/reset-mfa');
    expect(reset).toMatchObject({ status: 200, body: { user: { username: 'dana', mfa: false } } });
    expect(await store.totpOf(user.id)).toBeNull();
    expect(await store.recoveryCodesLeft(user.id)).toBe(0);
  });
});

describe('admin API clients', () => {
  it('registers a public and a confidential client; the secret is shown once and stored hashed', async () => {
    const open = await call('POST', '/clients', { id: 'spa', redirectUris: ['https://spa.example/cb'] });
    expect(open).toMatchObject({ status: 201, body: { client: { id: 'spa', confidential: false } } });
    expect(open.body).not.toHaveProperty('clientSecret');
    const closed = await call('POST', '/clients', {
      id: 'backend',
      name: 'Backend',
      redirectUris: ['https://api.example/cb'],
      confidential: true,
    });
    expect(closed.status).toBe(201);
    const secret = (closed.body as { clientSecret: string }).clientSecret;
    expect(secret).toMatch(/^[\w-]{43}$/);
    expect((await store.clientById('backend'))?.secretHash).toBe(hashToken(secret));
    const list = await call('GET', '/clients');
    expect(list.body).toMatchObject({
      clients: expect.arrayContaining([
        expect.objectContaining({
          id: 'backend',
          confidential: true,
          redirectUris: ['https://api.example/cb'],
        }),
      ]) as unknown,
    });
    expect(JSON.stringify(list.body)).not.toContain(hashToken(secret));
  });

  it('answers a bad registration with 400 and registers nothing', async () => {
    for (const body of [
      { id: 'evil', redirectUris: ['http://evil.example/cb'] },
      { id: 'evil', redirectUris: ['https://evil.example/cb#frag'] },
      { id: 'evil', redirectUris: [] },
      { id: 'evil', redirectUris: 'https://evil.example/cb' },
      { id: 'evil', redirectUris: ['https://evil.example/cb'], confidential: 'yes' },
    ]) {
      const response = await call('POST', '/clients', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    expect(await store.clientById('evil')).toBeNull();
  });
});
