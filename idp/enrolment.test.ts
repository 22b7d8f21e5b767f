import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { openTestIdp, type TestIdp } from '../test/helpers/idp.ts';
import { addClient, addUser } from './admin.ts';
import type { Idp } from './app.ts';
import type { SqlStore } from './store/sql-store.ts';
import { base32Decode, hotp, totpStep } from './totp.ts';

const REDIRECT = 'https://app.test.example/callback';
const clock = new FakeClock(Date.UTC(2026, 5, 1, 9, 0, 5));
let store: SqlStore;
let idp: Idp;
let testIdp: TestIdp;

beforeAll(async () => {
  testIdp = await openTestIdp({ clock, delay: () => Promise.resolve() });
  ({ store, idp } = testIdp);
  await addClient(store, clock, { id: 'web', name: 'Web', redirectUris: [REDIRECT], confidential: false });
  for (const username of ['pat', 'quinn', 'rene'])
    await addUser(store, clock, { username, password: `${username} password 1`, roles: [], groups: [] });
});
afterAll(() => testIdp.close());

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
// The session cookie among those set (a login also sets the long-lived device cookie).
const cookieOf = (response: { headers: Record<string, unknown> }): string =>
  [response.headers['set-cookie']]
    .flat()
    .map(String)
    .find((cookie) => cookie.startsWith('lanyard_session='))!
    .split(';')[0]!;
const csrfOf = (body: string): string => /name="csrf" value="([^"]+)"/.exec(body)![1]!;
const keyOf = (body: string): string => /<code>([A-Z2-7 ]+)<\/code>/.exec(body)![1]!.replace(/ /g, '');
const codeFor = (secret: string, at = clock.now()): string => hotp(base32Decode(secret), totpStep(at));

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function authorize(challenge: string, extra: Record<string, string> = {}) {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: 'web',
    redirect_uri: REDIRECT,
    scope: 'openid',
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return idp.server.inject({ method: 'GET', url: `/authorize?${query.toString()}` });
}

async function postForm(url: string, cookie: string, fields: Record<string, string>) {
  return idp.server.inject({
    method: 'POST',
    url,
    headers: { ...FORM, cookie },
    payload: new URLSearchParams(fields).toString(),
  });
}

/** Signs in with the password only; returns the signed-in session cookie. */
async function signIn(username: string): Promise<string> {
  const page = await authorize(pkce().challenge);
  const posted = await postForm('/login', cookieOf(page), {
    csrf: csrfOf(page.body),
    username,
    password: `${username} password 1`,
  });
  expect(posted.statusCode).toBe(303);
  return cookieOf(posted);
}

describe('MFA enrolment pages', () => {
  it('refuses a visitor who is not signed in', async () => {
    const response = await idp.server.inject({ method: 'GET', url: '/account/mfa' });
    expect(response.statusCode).toBe(401);
  });

  it('enrols a signed-in user: QR code, first code, recovery codes once; CSRF and code replay refused', async () => {
    const cookie = await signIn('pat');
    const page = await idp.server.inject({ method: 'GET', url: '/account/mfa', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).toMatch(/<html lang="en">/);
    expect(page.body).toMatch(/<svg[^>]*viewBox/);
    expect(page.body).toMatch(/<label for="code">/);
    const secret = keyOf(page.body);
    const user = (await store.userByName('pat'))!;
    // Nothing is stored before the first code proves the enrolment.
    expect(await store.totpOf(user.id)).toBeNull();

    const noCsrf = await postForm('/account/mfa', cookie, { code: codeFor(secret) });
    expect(noCsrf.statusCode).toBe(403);
    const badCsrf = await postForm('/account/mfa', cookie, { csrf: 'x'.repeat(43), code: codeFor(secret) });
    expect(badCsrf.statusCode).toBe(403);
    expect(await idp.mfa.enrolled(user.id)).toBe(false);

    const wrong = await postForm('/account/mfa', cookie, { csrf: csrfOf(page.body), code: '000000' });
    expect(wrong.statusCode).toBe(401);
    expect(keyOf(wrong.body)).toBe(secret);

    const code = codeFor(secret);
    const done = await postForm('/account/mfa', cookie, { csrf: csrfOf(page.body), code });
    expect(done.statusCode).toBe(200);
    const codes = [...done.body.matchAll(/<li><code>([a-z2-7-]+)<\/code><\/li>/g)].map((match) => match[1]);
    expect(codes).toHaveLength(10);
    expect(await idp.mfa.enrolled(user.id)).toBe(true);
    expect(await store.recoveryCodesLeft(user.id)).toBe(10);

    // The same code again: nothing is pending any more, and nothing changes.
    const renewed = cookieOf(done);
    const fresh = await idp.server.inject({
      method: 'GET',
      url: '/account/mfa',
      headers: { cookie: renewed },
    });
    expect(fresh.body).not.toMatch(/<svg/);
    const replay = await postForm('/account/mfa', renewed, { csrf: csrfOf(fresh.body), code });
    expect(replay.statusCode).toBe(400);
    expect(await store.recoveryCodesLeft(user.id)).toBe(10);

    // Nor does the enrolment code sign anyone in: its time step is used.
    const login = await authorize(pkce().challenge);
    const password = await postForm('/login', cookieOf(login), {
      csrf: csrfOf(login.body),
      username: 'pat',
      password: 'pat password 1',
    });
    expect(password.headers.location).toBe('/login/mfa');
    const mfaCookie = cookieOf(password);
    const mfaPage = await idp.server.inject({
      method: 'GET',
      url: '/login/mfa',
      headers: { cookie: mfaCookie },
    });
    const replayed = await postForm('/login/mfa', mfaCookie, { csrf: csrfOf(mfaPage.body), code });
    expect(replayed.statusCode).toBe(401);
    clock.advance(30_000);
    const next = await postForm('/login/mfa', mfaCookie, {
      csrf: csrfOf(mfaPage.body),
      code: codeFor(secret),
    });
    expect(next.statusCode).toBe(303);
  });

  it('replaces an authenticator only after a fresh second factor; an abandoned replacement changes nothing', async () => {
    const user = (await store.userByName('rene'))!;
    const first = await idp.mfa.beginEnrolment(user);
    await idp.mfa.confirmEnrolment(user.id, codeFor(first.secret));
    clock.advance(30_000);
    const before = await store.totpOf(user.id);

    // Signed in with both factors earlier; replacing still asks for a current code.
    const cookie = await signInEnrolled('rene', first.secret);
    clock.advance(30_000);
    const page = await idp.server.inject({ method: 'GET', url: '/account/mfa', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toMatch(/<svg/);
    const refused = await postForm('/account/mfa/replace', cookie, {
      csrf: csrfOf(page.body),
      code: '123456',
    });
    expect(refused.statusCode).toBe(401);
    const noCsrf = await postForm('/account/mfa/replace', cookie, { code: codeFor(first.secret) });
    expect(noCsrf.statusCode).toBe(403);

    const replacing = await postForm('/account/mfa/replace', cookie, {
      csrf: csrfOf(page.body),
      code: codeFor(first.secret),
    });
    expect(replacing.statusCode).toBe(200);
    const second = keyOf(replacing.body);
    expect(second).not.toBe(first.secret);
    // Until the new one is confirmed the old one stays (an abandoned replacement locks nobody out).
    expect((await store.totpOf(user.id))?.secretCiphertext).toBe(before?.secretCiphertext);

    clock.advance(30_000);
    const confirmed = await postForm('/account/mfa', cookie, {
      csrf: csrfOf(page.body),
      code: codeFor(second),
    });
    expect(confirmed.statusCode).toBe(200);
    expect((await store.totpOf(user.id))?.secretCiphertext).not.toBe(before?.secretCiphertext);
    clock.advance(30_000);
    await expect(idp.mfa.verify(user.id, codeFor(first.secret))).rejects.toMatchObject({
      code: 'ERR_IDP_MFA_FAILED',
    });
    expect(await idp.mfa.verify(user.id, codeFor(second))).toBe('otp');
  });

  it('routes a login that asks for MFA through enrolment when the user has no second factor', async () => {
    const { verifier, challenge } = pkce();
    const page = await authorize(challenge, { acr_values: 'urn:lanyard:acr:mfa' });
    const password = await postForm('/login', cookieOf(page), {
      csrf: csrfOf(page.body),
      username: 'quinn',
      password: 'quinn password 1',
    });
    expect(password.statusCode).toBe(303);
    expect(password.headers.location).toBe('/account/mfa');
    const cookie = cookieOf(password);
    // Skipping enrolment gets no code.
    const early = await postForm('/account/mfa/continue', cookie, {
      csrf: csrfOf(
        (await idp.server.inject({ method: 'GET', url: '/account/mfa', headers: { cookie } })).body,
      ),
    });
    expect(early.statusCode).toBe(400);
    const enrol = await idp.server.inject({ method: 'GET', url: '/account/mfa', headers: { cookie } });
    const done = await postForm('/account/mfa', cookie, {
      csrf: csrfOf(enrol.body),
      code: codeFor(keyOf(enrol.body)),
    });
    expect(done.statusCode).toBe(200);
    expect(done.body).toMatch(/action="\/account\/mfa\/continue"/);
    const back = await postForm('/account/mfa/continue', cookieOf(done), { csrf: csrfOf(done.body) });
    expect(back.statusCode).toBe(303);
    const location = new URL(String(back.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    const token = await idp.server.inject({
      method: 'POST',
      url: '/token',
      headers: FORM,
      payload: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: 'web',
        code: location.searchParams.get('code')!,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      }).toString(),
    });
    expect(token.statusCode).toBe(200);
    const claims = decodeJwt(token.json<{ access_token: string }>().access_token);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('urn:lanyard:acr:mfa');
  });
});

/** Signs an enrolled user in fully (password and code); returns the signed-in session cookie. */
async function signInEnrolled(username: string, secret: string): Promise<string> {
  const page = await authorize(pkce().challenge);
  const password = await postForm('/login', cookieOf(page), {
    csrf: csrfOf(page.body),
    username,
    password: `${username} password 1`,
  });
  const cookie = cookieOf(password);
  const mfaPage = await idp.server.inject({ method: 'GET', url: '/login/mfa', headers: { cookie } });
  const verified = await postForm('/login/mfa', cookie, {
    csrf: csrfOf(mfaPage.body),
    code: codeFor(secret),
  });
  expect(verified.statusCode).toBe(303);
  return cookieOf(verified);
}
