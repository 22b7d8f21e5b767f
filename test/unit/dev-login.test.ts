// The scripted sign-in of `lanyard dev` against a real IdP in this process: https on loopback,
// SQLite, argon2id passwords, TOTP. Only the wire is shared between the two.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar } from '../../dev/cookie-jar.ts';
import { startDevIdp, type DevIdp } from '../../dev/idp.ts';
import { OidcClient, parseForm, type Credentials } from '../../dev/login.ts';
import { base32Decode, hotp, totpStep } from '../../idp/totp.ts';
import { isLanyardError } from '../../lib/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-dev-login-'));
let idp: DevIdp;
let client: OidcClient;

beforeAll(async () => {
  idp = await startDevIdp({ stateDir: dir });
  client = new OidcClient({
    issuer: idp.issuer,
    caPem: idp.caPem,
    clientId: idp.clientId,
    redirectUri: idp.redirectUri,
  });
  await idp.enrolTotp('bob');
}, 60_000);

afterAll(async () => {
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

const credentials = (username: string, extra: Partial<Credentials> = {}): Credentials => ({
  username,
  password: idp.users.get(username)!.password,
  ...extra,
});

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isLanyardError(error)) throw new Error(`expected a LanyardError, got ${String(error)}`);
  return { code: error.code, message: error.message };
}

describe('the scripted sign-in against the built-in IdP', () => {
  it('signs alice in with her password: tokens for the demo client, amr pwd, audited at the IdP', async () => {
    const tokens = await client.login(credentials('alice'));
    expect(tokens).toMatchObject({ username: 'alice', amr: ['pwd'] });
    expect(idp.usernameOf(tokens.sub)).toBe('alice');
    expect(tokens.refreshToken).toMatch(/^lrt_/);
    expect(tokens.expiresAt).toBeGreaterThan(Date.now() + 4 * 60_000);

    // The access token is what the sidecars will verify: the IdP's key, issuer and audience.
    const { payload } = await jwtVerify(tokens.accessToken, createLocalJWKSet(await fetchJwks()), {
      issuer: idp.issuer,
      audience: idp.clientId,
    });
    expect(payload).toMatchObject({ sub: tokens.sub, roles: ['viewer'], amr: ['pwd'] });

    const audit = await idp.audit();
    expect(audit.find((record) => record.username === 'alice')).toMatchObject({
      event: 'login',
      outcome: 'success',
      source: '127.0.0.1',
    });
  }, 60_000);

  it('keeps the browser across sign-ins: the password is asked again, and the IdP sees a known device', async () => {
    const browser = new CookieJar();
    const before = (await idp.audit(1000)).length;
    await client.login(credentials('mallory', { browser }));
    await client.login(credentials('mallory', { browser }));
    const records = (await idp.audit(1000)).slice(0, -before || undefined);
    const mallory = records.filter(
      (record) => record.username === 'mallory' || record.event === 'new_device',
    );
    expect(mallory.filter((record) => record.event === 'login' && record.reason === 'password')).toHaveLength(
      2,
    );
    expect(mallory.filter((record) => record.event === 'new_device')).toEqual([]);
  }, 60_000);

  it('a wrong password is a clear ERR_DEV_LOGIN_REFUSED with the IdP’s own message', async () => {
    const error = await refusal(client.login(credentials('mallory', { password: 'not her password' })));
    expect(error.code).toBe('ERR_DEV_LOGIN_REFUSED');
    expect(error.message).toBe("the IdP refused mallory's sign-in: The username or password is incorrect.");
    expect((await idp.audit(5)).find((record) => record.username === 'mallory')).toMatchObject({
      outcome: 'failure',
    });
  }, 60_000);

  it('signs bob in with password + TOTP (amr pwd otp mfa); a wrong or replayed code is ERR_DEV_MFA_REFUSED', async () => {
    const secret = idp.users.get('bob')!.totpSecret!;
    // A code from five steps ahead: outside the IdP's window, so wrong now.
    const wrong = hotp(base32Decode(secret), totpStep(Date.now()) + 5);
    const refused = await refusal(client.login(credentials('bob', { totp: () => Promise.resolve(wrong) })));
    expect(refused).toEqual({
      code: 'ERR_DEV_MFA_REFUSED',
      message: "the IdP refused bob's one-time code: The code is not valid. Codes can be used once.",
    });

    const code = await idp.totpCode('bob');
    const tokens = await client.login(credentials('bob', { totp: () => Promise.resolve(code) }));
    expect(tokens.amr).toEqual(['pwd', 'otp', 'mfa']);

    // The same code again is a replay, refused even within its 30 s step.
    const replay = await refusal(client.login(credentials('bob', { totp: () => Promise.resolve(code) })));
    expect(replay.code).toBe('ERR_DEV_MFA_REFUSED');
  }, 60_000);

  it('bob without a code to give stops with ERR_DEV_LOGIN_FLOW, not a hang', async () => {
    const error = await refusal(client.login(credentials('bob')));
    expect(error).toEqual({
      code: 'ERR_DEV_LOGIN_FLOW',
      message: 'the IdP asks bob for a second factor, and none is known',
    });
  }, 60_000);

  it('rotates the refresh token; the spent one is refused and takes the family down with it', async () => {
    const first = await client.login(credentials('alice'));
    const rotated = await client.refresh(first.refreshToken);
    if (!('tokens' in rotated)) throw new Error(`refresh refused: ${rotated.error}`);
    expect(rotated.tokens.refreshToken).not.toBe(first.refreshToken);
    expect(rotated.tokens.sub).toBe(first.sub);

    expect(await client.refresh(first.refreshToken)).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect(await client.refresh(rotated.tokens.refreshToken)).toMatchObject({
      status: 400,
      error: 'invalid_grant',
    });
    expect((await idp.audit(10)).some((record) => record.event === 'refresh_token_reuse')).toBe(true);
  }, 60_000);

  it('trusts only the given CA, and only an issuer that names itself in discovery', async () => {
    const untrusted = new OidcClient({
      issuer: idp.issuer,
      clientId: idp.clientId,
      redirectUri: idp.redirectUri,
    });
    await expect(untrusted.login(credentials('alice'))).rejects.toThrow(/certificate/i);

    const otherName = new OidcClient({
      issuer: idp.issuer.replace('127.0.0.1', 'localhost'),
      caPem: idp.caPem,
      clientId: idp.clientId,
      redirectUri: idp.redirectUri,
    });
    const error = await refusal(otherName.login(credentials('alice')));
    expect(error.code).toBe('ERR_DEV_LOGIN_FLOW');
    expect(error.message).toMatch(/does not serve OpenID discovery for itself/);
  }, 60_000);

  it('a redirect URI the client does not have registered is refused by the IdP, and said so', async () => {
    const stranger = new OidcClient({
      issuer: idp.issuer,
      caPem: idp.caPem,
      clientId: idp.clientId,
      redirectUri: 'http://127.0.0.1/somewhere-else',
    });
    const error = await refusal(stranger.login(credentials('alice')));
    expect(error.code).toBe('ERR_DEV_LOGIN_FLOW');
    expect(error.message).toMatch(
      /expected the sign-in page with its CSRF token, got status 400: .*not registered/,
    );
  }, 60_000);
});

async function fetchJwks(): Promise<{ keys: never[] }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    request(idp.jwksUri, { ca: idp.caPem }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(JSON.parse(body) as { keys: never[] }));
    })
      .on('error', reject)
      .end();
  });
}

describe('CookieJar', () => {
  const https = new URL('https://127.0.0.1:8443/login/mfa');

  it('sends a host-only cookie back to its host and path only', () => {
    const jar = new CookieJar();
    jar.store(https, ['s=1; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=600', 'p=2; Path=/login']);
    expect(jar.header(new URL('https://127.0.0.1:8443/token'))).toBe('s=1');
    expect(jar.header(new URL('https://127.0.0.1:8443/login/x'))).toBe('p=2; s=1');
    expect(jar.header(new URL('https://localhost:8443/token'))).toBeUndefined();
    expect(jar.header(new URL('https://127.0.0.1:8443/loginx'))).toBe('s=1');
  });

  it('keeps Secure cookies off plain http and refuses them from it', () => {
    const jar = new CookieJar();
    jar.store(https, 's=1; Secure');
    expect(jar.header(new URL('http://127.0.0.1:8443/login'))).toBeUndefined();
    jar.store(new URL('http://127.0.0.1/'), 't=2; Secure');
    expect(jar.header(https)).toBe('s=1');
  });

  it('drops a cookie at Max-Age=0 or when it expires, and refuses a Domain of another host', () => {
    let now = 1_000_000;
    const jar = new CookieJar(() => now);
    jar.store(https, ['a=1; Path=/; Max-Age=10', 'b=2; Path=/; Max-Age=600']);
    jar.store(https, 'b=; Path=/; Max-Age=0');
    expect(jar.header(https)).toBe('a=1');
    now += 11_000;
    expect(jar.header(https)).toBeUndefined();
    jar.store(https, 'c=3; Path=/; Domain=example.com');
    expect(jar.header(https)).toBeUndefined();
  });
});

describe('parseForm', () => {
  it('reads the action and the hidden fields, entities decoded', () => {
    expect(
      parseForm(
        '<form method="post" action="/login"><input type="hidden" name="csrf" value="a&#43;b&#61;"><input name="username"></form>',
      ),
    ).toEqual({ action: '/login', hidden: { csrf: 'a+b=' } });
    expect(parseForm('<p>no form</p>')).toBeUndefined();
  });
});
