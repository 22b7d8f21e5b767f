import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { openTestIdp, type TestIdp } from '../test/helpers/idp.ts';
import { addClient, addUser } from './admin.ts';
import type { Idp } from './app.ts';
import type { SqlStore } from './store/sql-store.ts';
import { base32Decode, hotp, totpStep } from './totp.ts';

const ISSUER = 'https://login.test.example';
const REDIRECT = 'https://app.test.example/callback';
const clock = new FakeClock(Date.UTC(2026, 5, 1, 9, 0, 5));
const delays: number[] = [];
let testIdp: TestIdp;
let store: SqlStore;
let idp: Idp;
let totpSecret: string;
let confidentialSecret: string;

beforeAll(async () => {
  testIdp = await openTestIdp({
    issuer: ISSUER,
    clock,
    delay: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  });
  ({ store, idp } = testIdp);
  await addClient(store, clock, {
    id: 'web',
    name: 'Shop web',
    redirectUris: [REDIRECT],
    confidential: false,
  });
  confidentialSecret = (
    await addClient(store, clock, {
      id: 'backend',
      name: 'Backend',
      redirectUris: [REDIRECT],
      confidential: true,
    })
  ).secret!;
  await addUser(store, clock, { username: 'pat', password: 'pat password 1', roles: ['viewer'], groups: [] });
  const alice = await addUser(store, clock, {
    username: 'alice',
    password: 'alice password 1',
    roles: ['manager'],
    groups: ['shop'],
  });
  const enrolment = await idp.mfa.beginEnrolment(alice);
  totpSecret = enrolment.secret;
  await idp.mfa.confirmEnrolment(alice.id, currentCode());
  clock.advance(30_000);
});
afterAll(() => testIdp.close());

function currentCode(): string {
  return hotp(base32Decode(totpSecret), totpStep(clock.now()));
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString(),
});

function sessionCookie(response: { headers: Record<string, unknown> }): string {
  const header = [response.headers['set-cookie']]
    .flat()
    .map(String)
    .find((cookie) => cookie.startsWith('lanyard_session='))!;
  expect(header).toMatch(/HttpOnly/);
  expect(header).toMatch(/Secure/);
  expect(header).toMatch(/SameSite=Lax/);
  return header.split(';')[0]!;
}

function csrfOf(body: string): string {
  return /name="csrf" value="([^"]+)"/.exec(body)![1]!;
}

async function authorize(query: Record<string, string>) {
  return idp.server.inject({ method: 'GET', url: `/authorize?${new URLSearchParams(query).toString()}` });
}

function authorizeQuery(challenge: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    response_type: 'code',
    client_id: 'web',
    redirect_uri: REDIRECT,
    scope: 'openid profile',
    state: 'st-123',
    nonce: 'nonce-9',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
}

/** Password (and TOTP for alice) through to the redirect with the code. */
async function login(username: string, password: string, challenge: string): Promise<URL> {
  const page = await authorize(authorizeQuery(challenge));
  expect(page.statusCode).toBe(200);
  const posted = await idp.server.inject({
    method: 'POST',
    url: '/login',
    headers: { ...form({}).headers, cookie: sessionCookie(page) },
    payload: new URLSearchParams({ csrf: csrfOf(page.body), username, password }).toString(),
  });
  expect(posted.statusCode).toBe(303);
  const cookie = sessionCookie(posted);
  let location = String(posted.headers.location);
  if (location === '/login/mfa') {
    const mfaPage = await idp.server.inject({ method: 'GET', url: '/login/mfa', headers: { cookie } });
    const verified = await idp.server.inject({
      method: 'POST',
      url: '/login/mfa',
      headers: { ...form({}).headers, cookie },
      payload: new URLSearchParams({ csrf: csrfOf(mfaPage.body), code: currentCode() }).toString(),
    });
    expect(verified.statusCode).toBe(303);
    sessionCookie(verified);
    location = String(verified.headers.location);
  }
  return new URL(location);
}

async function redeem(code: string, verifier: string, extra: Record<string, string> = {}) {
  return idp.server.inject({
    method: 'POST',
    url: '/token',
    ...form({
      grant_type: 'authorization_code',
      client_id: 'web',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      ...extra,
    }),
  });
}

describe('OIDC server', () => {
  it('publishes discovery and a JWKS of public ES256 keys', async () => {
    const discovery = (await idp.server.inject('/.well-known/openid-configuration')).json<
      Record<string, unknown>
    >();
    expect(discovery).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/jwks`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    });
    const jwks = (await idp.server.inject('/jwks')).json<{ keys: Record<string, unknown>[] }>();
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(jwks.keys.every((key) => key.d === undefined)).toBe(true);
  });

  it('logs in with password and TOTP through code + PKCE and returns MFA tokens', async () => {
    const { verifier, challenge } = pkce();
    const callback = await login('alice', 'alice password 1', challenge);
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe('st-123');
    expect(callback.searchParams.get('iss')).toBe(ISSUER);
    const response = await redeem(callback.searchParams.get('code')!, verifier);
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const tokens = response.json<{ access_token: string; id_token: string; refresh_token: string }>();
    const claims = JSON.parse(
      Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(claims).toMatchObject({
      aud: 'web',
      amr: ['pwd', 'otp', 'mfa'],
      roles: ['manager'],
      groups: ['shop'],
    });
    const userinfo = await idp.server.inject({
      url: '/userinfo',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(userinfo.json()).toMatchObject({ preferred_username: 'alice', roles: ['manager'] });
  });

  it('redeems a code once only', async () => {
    const { verifier, challenge } = pkce();
    const code = (await login('pat', 'pat password 1', challenge)).searchParams.get('code')!;
    expect((await redeem(code, verifier)).statusCode).toBe(200);
    expect((await redeem(code, verifier)).json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a missing or wrong PKCE verifier', async () => {
    const { challenge } = pkce();
    const code = (await login('pat', 'pat password 1', challenge)).searchParams.get('code')!;
    expect((await redeem(code, pkce().verifier)).json()).toMatchObject({ error: 'invalid_grant' });
    const second = (await login('pat', 'pat password 1', challenge)).searchParams.get('code')!;
    const missing = await idp.server.inject({
      method: 'POST',
      url: '/token',
      ...form({ grant_type: 'authorization_code', client_id: 'web', code: second, redirect_uri: REDIRECT }),
    });
    expect(missing.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses an authorization request without PKCE S256, or for the implicit flow, by redirecting an error', async () => {
    const { challenge } = pkce();
    const refused: Record<string, string>[] = [
      { code_challenge_method: 'plain' },
      { code_challenge: '' },
      { response_type: 'token' },
      { response_type: 'id_token token' },
    ];
    for (const overrides of refused) {
      const response = await authorize(authorizeQuery(challenge, overrides));
      expect(response.statusCode).toBe(303);
      const target = new URL(String(response.headers.location));
      expect(target.searchParams.get('error')).toMatch(/invalid_request|unsupported_response_type/);
      expect(target.searchParams.get('code')).toBeNull();
    }
  });

  it('never redirects to an unregistered redirect URI, even one that only differs slightly', async () => {
    const { challenge } = pkce();
    for (const redirect of [
      `${REDIRECT}/`,
      `${REDIRECT}?x=1`,
      'https://evil.example/callback',
      REDIRECT.toUpperCase(),
    ]) {
      const response = await authorize(authorizeQuery(challenge, { redirect_uri: redirect }));
      expect(response.statusCode).toBe(400);
      expect(response.headers.location).toBeUndefined();
    }
    const wrongClient = await authorize(authorizeQuery(challenge, { client_id: 'nobody' }));
    expect(wrongClient.statusCode).toBe(400);
  });

  it('refuses a code redeemed with another redirect URI', async () => {
    const { verifier, challenge } = pkce();
    const code = (await login('pat', 'pat password 1', challenge)).searchParams.get('code')!;
    expect((await redeem(code, verifier, { redirect_uri: `${REDIRECT}/other` })).json()).toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('refuses a login form posted without its CSRF token', async () => {
    const page = await authorize(authorizeQuery(pkce().challenge));
    const response = await idp.server.inject({
      method: 'POST',
      url: '/login',
      headers: { ...form({}).headers, cookie: sessionCookie(page) },
      payload: new URLSearchParams({ username: 'pat', password: 'pat password 1' }).toString(),
    });
    expect(response.statusCode).toBe(403);
    expect(response.headers.location).toBeUndefined();
  });

  it('gives the same answer for an unknown user and a wrong password, and audits the difference', async () => {
    const answers: string[] = [];
    for (const [username, password] of [
      ['pat', 'not the password'],
      ['ghost', 'pat password 1'],
    ]) {
      const page = await authorize(authorizeQuery(pkce().challenge));
      const response = await idp.server.inject({
        method: 'POST',
        url: '/login',
        headers: { ...form({}).headers, cookie: sessionCookie(page) },
        payload: new URLSearchParams({
          csrf: csrfOf(page.body),
          username: username!,
          password: password!,
        }).toString(),
      });
      expect(response.statusCode).toBe(401);
      answers.push(response.body.replace(/value="[^"]*"/g, ''));
    }
    expect(answers[0]).toBe(answers[1]);
    const audit = await store.listAudit({ limit: 5 });
    expect(audit.slice(0, 2).map((record) => record.reason)).toEqual(['unknown_user', 'wrong_password']);
  });

  it('slows then blocks brute force against one account', async () => {
    delays.length = 0;
    const page = await authorize(authorizeQuery(pkce().challenge));
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt++) {
      const response = await idp.server.inject({
        method: 'POST',
        url: '/login',
        headers: { ...form({}).headers, cookie: sessionCookie(page) },
        payload: new URLSearchParams({
          csrf: csrfOf(page.body),
          username: 'victim',
          password: `guess ${attempt}`,
        }).toString(),
      });
      statuses.push(response.statusCode);
    }
    expect(delays.length).toBeGreaterThan(0);
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
    expect(statuses.slice(0, 10).every((status) => status === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    const blocked = await store.listAudit({ limit: 1, username: 'victim' });
    expect(blocked[0]).toMatchObject({ outcome: 'blocked', reason: 'account_throttled' });
    clock.advance(5 * 60_000 + 1);
  });

  it('refreshes, and reuse of a rotated refresh token revokes the family', async () => {
    const { verifier, challenge } = pkce();
    const code = (await login('pat', 'pat password 1', challenge)).searchParams.get('code')!;
    const first = (await redeem(code, verifier)).json<{ refresh_token: string }>();
    const refresh = (token: string) =>
      idp.server.inject({
        method: 'POST',
        url: '/token',
        ...form({ grant_type: 'refresh_token', client_id: 'web', refresh_token: token }),
      });
    const second = await refresh(first.refresh_token);
    expect(second.statusCode).toBe(200);
    expect((await refresh(first.refresh_token)).json()).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(second.json<{ refresh_token: string }>().refresh_token)).json()).toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('authenticates confidential clients (basic and post) and revokes their tokens (RFC 7009)', async () => {
    const { verifier, challenge } = pkce();
    const page = await authorize(authorizeQuery(challenge, { client_id: 'backend' }));
    const posted = await idp.server.inject({
      method: 'POST',
      url: '/login',
      headers: { ...form({}).headers, cookie: sessionCookie(page) },
      payload: new URLSearchParams({
        csrf: csrfOf(page.body),
        username: 'pat',
        password: 'pat password 1',
      }).toString(),
    });
    const code = new URL(String(posted.headers.location)).searchParams.get('code')!;
    const body = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
    const noSecret = await idp.server.inject({
      method: 'POST',
      url: '/token',
      ...form({ ...body, client_id: 'backend' }),
    });
    expect(noSecret.statusCode).toBe(401);
    const basic = `Basic ${Buffer.from(`backend:${confidentialSecret}`).toString('base64')}`;
    const ok = await idp.server.inject({
      method: 'POST',
      url: '/token',
      headers: { ...form({}).headers, authorization: basic },
      payload: new URLSearchParams(body).toString(),
    });
    // The first attempt without a secret was refused before the code was looked at.
    expect(ok.statusCode).toBe(200);
    const refreshToken = ok.json<{ refresh_token: string }>().refresh_token;
    const revoked = await idp.server.inject({
      method: 'POST',
      url: '/revoke',
      ...form({ token: refreshToken, client_id: 'backend', client_secret: confidentialSecret }),
    });
    expect(revoked.statusCode).toBe(200);
    const after = await idp.server.inject({
      method: 'POST',
      url: '/token',
      headers: { ...form({}).headers, authorization: basic },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
    });
    expect(after.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('signs out: the session no longer skips the login page', async () => {
    const { challenge } = pkce();
    const page = await authorize(authorizeQuery(challenge));
    const posted = await idp.server.inject({
      method: 'POST',
      url: '/login',
      headers: { ...form({}).headers, cookie: sessionCookie(page) },
      payload: new URLSearchParams({
        csrf: csrfOf(page.body),
        username: 'pat',
        password: 'pat password 1',
      }).toString(),
    });
    const cookie = sessionCookie(posted);
    const again = await idp.server.inject({
      url: `/authorize?${new URLSearchParams(authorizeQuery(challenge)).toString()}`,
      headers: { cookie },
    });
    expect(again.statusCode).toBe(303); // single sign-on: straight back with a code
    const out = await idp.server.inject({ url: '/logout', headers: { cookie } });
    expect(out.statusCode).toBe(200);
    const afterLogout = await idp.server.inject({
      url: `/authorize?${new URLSearchParams(authorizeQuery(challenge)).toString()}`,
      headers: { cookie },
    });
    expect(afterLogout.statusCode).toBe(200);
    expect(afterLogout.body).toContain('name="password"');
  });
});
