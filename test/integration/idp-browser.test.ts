// The identity provider as a person meets it: `lanyard idp` as a real process, Debian's
// chromium on the real login pages, password + TOTP through the code + PKCE flow.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../lib/clock.ts';
import { MfaService } from '../../idp/mfa.ts';
import { createSecretBox, loadSecretKeyFile } from '../../idp/secret-box.ts';
import { openSqliteStore } from '../../idp/store/sqlite.ts';
import { base32Decode, hotp, totpStep } from '../../idp/totp.ts';

const lanyard = fileURLToPath(new URL('../../bin/lanyard.js', import.meta.url));
const screenshot = fileURLToPath(new URL('../../docs/images/idp-login.png', import.meta.url));
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));

const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-browser-'));
const db = join(dir, 'idp.db');
const keyFile = join(dir, 'idp.key');
let idpProcess: ChildProcess | undefined;
let callbackServer: Server | undefined;
let browser: Browser | undefined;
let issuer = '';
let redirectUri = '';
let totpSecret = '';
const callbacks: URL[] = [];

function lanyardCli(args: string[], input?: string): string {
  return execFileSync(process.execPath, [lanyard, 'idp', ...args, '--db', db, '--key-file', keyFile], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install -y chromium)');
  // The relying party: a callback that records what the browser is sent back with.
  callbackServer = createServer((request, response) => {
    const url = new URL(request.url ?? '/', redirectUri);
    if (url.pathname === '/callback') callbacks.push(url);
    response.writeHead(200, { 'content-type': 'text/plain' }).end('signed in');
  });
  redirectUri = `http://localhost:${await listen(callbackServer)}/callback`;

  expect(
    lanyardCli(
      ['users', 'add', 'alice', '--password-stdin', '--role', 'manager', '--group', 'shop'],
      'alice password 1\n',
    ),
  ).toMatch(/added user alice/);
  expect(lanyardCli(['clients', 'add', 'shop-web', '--name', 'Shop', '--redirect-uri', redirectUri])).toMatch(
    /added client shop-web/,
  );

  const port = await freePort();
  issuer = `http://localhost:${port}`;
  idpProcess = spawn(
    process.execPath,
    [
      lanyard,
      'idp',
      'serve',
      '--db',
      db,
      '--key-file',
      keyFile,
      '--issuer',
      issuer,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  idpProcess.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  idpProcess.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!output.includes('listening on')) {
    if (Date.now() > deadline || idpProcess.exitCode !== null)
      throw new Error(`lanyard idp did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  // Enrol alice's authenticator the way the server does, through the same store and key file.
  const store = openSqliteStore(db);
  const mfa = new MfaService(
    store,
    createSecretBox(loadSecretKeyFile(keyFile, { create: false })),
    systemClock,
    'test',
  );
  const alice = (await store.userByName('alice'))!;
  totpSecret = (await mfa.beginEnrolment(alice)).secret;
  await mfa.confirmEnrolment(alice.id, hotp(base32Decode(totpSecret), totpStep(Date.now())));
  await store.close();

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  idpProcess?.kill('SIGTERM');
  await new Promise((resolve) => callbackServer?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** A code that the server has not seen yet: the step after the one used at enrolment. */
async function freshCode(): Promise<string> {
  const enrolledStep = totpStep(Date.now());
  while (totpStep(Date.now()) === enrolledStep) await new Promise((resolve) => setTimeout(resolve, 500));
  return hotp(base32Decode(totpSecret), totpStep(Date.now()));
}

async function token(
  fields: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'shop-web', ...fields }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('login in a real browser', () => {
  it('signs in with password and TOTP through code + PKCE, refreshes, and reuse revokes the family', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorize = new URL(`${issuer}/authorize`);
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: 'shop-web',
      redirect_uri: redirectUri,
      scope: 'openid profile',
      state: 'browser-state',
      nonce: 'browser-nonce',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })) {
      authorize.searchParams.set(name, value);
    }

    const context = await browser!.newContext({ viewport: { width: 640, height: 560 } });
    const page = await context.newPage();
    await page.goto(authorize.toString());
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice password 1');
    await page.screenshot({ path: screenshot });
    const cookies = await context.cookies();
    expect(cookies.find((cookie) => cookie.name === 'lanyard_session')).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: 'Lax',
    });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Authentication code').waitFor();
    await page.getByLabel('Authentication code').fill(await freshCode());
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL((url) => url.pathname === '/callback');
    expect(await page.evaluate('JSON.stringify(localStorage) + JSON.stringify(sessionStorage)')).toBe('{}{}');
    await context.close();

    const callback = callbacks.at(-1)!;
    expect(callback.searchParams.get('state')).toBe('browser-state');
    const issued = await token({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(issued.status).toBe(200);
    const claims = JSON.parse(
      Buffer.from(String(issued.body.access_token).split('.')[1]!, 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(claims).toMatchObject({
      iss: issuer,
      aud: 'shop-web',
      amr: ['pwd', 'otp', 'mfa'],
      roles: ['manager'],
    });

    const refreshed = await token({
      grant_type: 'refresh_token',
      refresh_token: String(issued.body.refresh_token),
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(issued.body.refresh_token);

    const reused = await token({
      grant_type: 'refresh_token',
      refresh_token: String(issued.body.refresh_token),
    });
    expect(reused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const afterReuse = await token({
      grant_type: 'refresh_token',
      refresh_token: String(refreshed.body.refresh_token),
    });
    expect(afterReuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});
