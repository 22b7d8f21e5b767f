// The login defences through the real HTTP handlers: credential stuffing, impossible travel,
// new-device notices, X-Forwarded-For handling, and the webhook (a real HTTP receiver).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backoff } from '../lib/backoff.ts';
import { GeoResolver, type GeoLocation } from '../lib/geo.ts';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../test/helpers/clock.ts';
import { openTestIdp, type TestIdp } from '../test/helpers/idp.ts';
import { addClient, addUser } from './admin.ts';
import type { Idp } from './app.ts';
import { parseTrustedProxies } from './client-address.ts';
import { defenceConfig } from './defences.ts';
import { WebhookNotifier } from './notify.ts';
import type { SqlStore } from './store/sql-store.ts';
import { base32Decode, hotp, totpStep } from './totp.ts';

const ISSUER = 'https://login.test.example';
const REDIRECT = 'https://app.test.example/callback';
const PROXY = '10.9.9.9';
// A small table instead of the real database: where an address is must not change under the test.
const PLACES: Record<string, GeoLocation> = {
  '81.2.69.160': { country: 'GB', latitude: 51.4036, longitude: -0.7618 },
  '81.2.69.161': { country: 'GB', latitude: 51.4036, longitude: -0.7618 },
  '2001:218::1': { country: 'JP', latitude: 35.69, longitude: 139.69 },
  '90.0.0.1': { country: 'FR', latitude: 48.8566, longitude: 2.3522 },
};

const clock = new FakeClock(Date.UTC(2026, 5, 1, 9, 0, 5));
let testIdp: TestIdp;
let store: SqlStore;
let idp: Idp;
let notifier: WebhookNotifier;
let hook: Server;
const received: { raw: string; body: Record<string, unknown> }[] = [];
const secrets: string[] = [];
let totpSecret: string;

beforeAll(async () => {
  hook = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      received.push({ raw, body: JSON.parse(raw) as Record<string, unknown> });
      response.end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const registry = new Registry();
  notifier = new WebhookNotifier({
    url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/notices`,
    registry,
    logger: silentLogger,
    sleep: () => Promise.resolve(),
    backoff: () => new Backoff(1, 1, () => 0),
  });
  testIdp = await openTestIdp({
    issuer: ISSUER,
    clock,
    registry,
    delay: () => Promise.resolve(),
    geo: new GeoResolver((address) => PLACES[address]),
    notifier,
    trustedProxies: parseTrustedProxies([PROXY]),
    defences: defenceConfig({ stuffing: { accounts: 5 } }),
  });
  ({ store, idp } = testIdp);
  await addClient(store, clock, { id: 'web', name: 'Web', redirectUris: [REDIRECT], confidential: false });
  for (const name of ['bob', 'carol', 'dave', 'erin', 'alice']) {
    const password = `${name} password ${randomBytes(4).toString('hex')}`;
    secrets.push(password);
    await addUser(store, clock, { username: name, password, roles: [], groups: [] });
  }
  const alice = (await store.userByName('alice'))!;
  totpSecret = (await idp.mfa.beginEnrolment(alice)).secret;
  await idp.mfa.confirmEnrolment(alice.id, hotp(base32Decode(totpSecret), totpStep(clock.now())));
  clock.advance(30_000);
});
afterAll(async () => {
  await notifier.close();
  await testIdp.close();
  await new Promise((resolve) => hook.close(resolve));
});

const passwordOf = (name: string): string => secrets.find((s) => s.startsWith(`${name} `))!;

function cookie(response: { headers: Record<string, unknown> }, name: string): string | undefined {
  return [response.headers['set-cookie']]
    .flat()
    .map(String)
    .find((c) => c.startsWith(`${name}=`));
}

interface Attempt {
  status: number;
  location: string | undefined;
  body: string;
  device: string | undefined;
  setCookies: string[];
}

/** GET /authorize, then POST /login from `source` (through the trusted proxy), with a device cookie if given. */
async function attempt(
  username: string,
  password: string,
  options: { source: string; device?: string; peer?: string; forwardedFor?: string },
): Promise<Attempt> {
  const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: 'web',
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const page = await idp.server.inject({ url: `/authorize?${query.toString()}` });
  const session = cookie(page, 'lanyard_session')!.split(';')[0]!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  secrets.push(session.split('=')[1]!);
  const posted = await idp.server.inject({
    method: 'POST',
    url: '/login',
    remoteAddress: options.peer ?? PROXY,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: [session, options.device && `lanyard_device=${options.device}`].filter(Boolean).join('; '),
      'x-forwarded-for': options.forwardedFor ?? `198.18.0.1, ${options.source}`,
    },
    payload: new URLSearchParams({ csrf, username, password }).toString(),
  });
  const device = cookie(posted, 'lanyard_device');
  const deviceId = device && /^lanyard_device=([^;]+)/.exec(device)![1];
  if (deviceId) secrets.push(deviceId);
  return {
    status: posted.statusCode,
    location: posted.headers.location,
    body: posted.body,
    device: deviceId,
    setCookies: [posted.headers['set-cookie']].flat().map(String),
  };
}

async function secondFactor(after: Attempt, source: string) {
  const session = after.setCookies.find((c) => c.startsWith('lanyard_session='))!.split(';')[0]!;
  const page = await idp.server.inject({ url: '/login/mfa', headers: { cookie: session } });
  return idp.server.inject({
    method: 'POST',
    url: '/login/mfa',
    remoteAddress: PROXY,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: session,
      'x-forwarded-for': source,
    },
    payload: new URLSearchParams({
      csrf: /name="csrf" value="([^"]+)"/.exec(page.body)![1]!,
      code: hotp(base32Decode(totpSecret), totpStep(clock.now())),
    }).toString(),
  });
}

async function audits(username: string) {
  return store.listAudit({ limit: 50, username });
}

async function notices(kind: string, username?: string) {
  await notifier.idle();
  return received.filter(
    (r) => r.body.kind === kind && (username === undefined || r.body.username === username),
  );
}

describe('login defences', () => {
  it('detects credential stuffing, blocks the source, audits it and notifies the webhook', async () => {
    const source = '45.10.0.1';
    const accounts = ['nobody1', 'nobody2', 'bob', 'nobody3', 'carol'];
    for (const name of accounts) {
      expect((await attempt(name, 'Summer2026!', { source })).status).toBe(401);
    }
    const detection = (await store.listAudit({ limit: 20 })).find((r) => r.event === 'credential_stuffing');
    expect(detection).toMatchObject({
      source,
      outcome: 'security',
      reason: 'block+notify',
      username: 'carol',
    });
    // Blocked now, even with the right password; another source is not.
    const blocked = await attempt('bob', passwordOf('bob'), { source });
    expect(blocked.status).toBe(429);
    expect((await audits('bob'))[0]).toMatchObject({
      outcome: 'blocked',
      reason: 'source_blocked_stuffing',
      source,
    });
    expect((await attempt('erin', 'wrong password', { source: '45.10.0.2' })).status).toBe(401);
    const [notice] = await notices('credential_stuffing');
    expect(notice!.body).toMatchObject({ source, actions: ['block'], detail: { accounts: 5 } });
    expect(notice!.raw).not.toContain('Summer2026!');
    const metrics = await idp.server.inject('/metrics');
    expect(metrics.body).toMatch(/lanyard_idp_detections_total\{kind="credential_stuffing"\} 1/);
    expect(metrics.body).not.toContain(source);
    expect(metrics.body).not.toContain('carol');
  });

  it('detects impossible travel (GB, then Japan ten minutes later): MFA is required, and a user without it is refused', async () => {
    const first = await attempt('bob', passwordOf('bob'), { source: '81.2.69.160' });
    expect(first.status).toBe(303);
    expect(first.location).toMatch(/^https:\/\/app\.test\.example\/callback\?code=/);
    clock.advance(10 * 60_000);
    const far = await attempt('bob', passwordOf('bob'), { source: '2001:218::1', device: first.device! });
    expect(far.status).toBe(403);
    expect(far.body).toContain('needs a second factor');
    expect(far.location).toBeUndefined();
    const records = await audits('bob');
    expect(records[0]).toMatchObject({
      event: 'login',
      outcome: 'blocked',
      reason: 'mfa_required_not_enrolled',
    });
    expect(records[1]).toMatchObject({
      event: 'impossible_travel',
      outcome: 'security',
      source: '2001:218::1',
    });
    const [notice] = await notices('impossible_travel', 'bob');
    expect(notice!.body).toMatchObject({
      country: 'JP',
      actions: ['mfa'],
      detail: { previousCountry: 'GB' },
    });
    expect(Number((notice!.body.detail as Record<string, number>).distanceKm)).toBeGreaterThan(9000);

    // A user with TOTP: sent to the second factor after the detection, and can complete it.
    const alice = await attempt('alice', passwordOf('alice'), { source: '81.2.69.160' });
    expect(alice.location).toBe('/login/mfa');
    expect((await secondFactor(alice, '81.2.69.160')).statusCode).toBe(303);
    clock.advance(10 * 60_000);
    const aliceFar = await attempt('alice', passwordOf('alice'), {
      source: '2001:218::1',
      device: alice.device!,
    });
    expect(aliceFar.status).toBe(303);
    expect(aliceFar.location).toBe('/login/mfa');
    expect((await audits('alice')).some((r) => r.event === 'impossible_travel')).toBe(true);
    const verified = await secondFactor(aliceFar, '2001:218::1');
    expect(verified.statusCode).toBe(303);
    expect(String(verified.headers.location)).toMatch(/code=/);
  });

  it('does not flag a plausible pair (GB, then Paris ten minutes later), but notices the new country', async () => {
    const first = await attempt('carol', passwordOf('carol'), { source: '81.2.69.161' });
    expect(first.status).toBe(303);
    clock.advance(10 * 60_000);
    const paris = await attempt('carol', passwordOf('carol'), { source: '90.0.0.1', device: first.device! });
    expect(paris.status).toBe(303);
    expect(paris.location).toMatch(/code=/);
    const records = await audits('carol');
    expect(records.some((r) => r.event === 'impossible_travel')).toBe(false);
    expect(records[0]).toMatchObject({ event: 'new_country', outcome: 'security', source: '90.0.0.1' });
    expect(await notices('new_country', 'carol')).toHaveLength(1);
    expect(await notices('new_device', 'carol')).toHaveLength(0);
  });

  it('sends a new-device notice once per device, never on the first sign-in, with a hardened device cookie', async () => {
    const source = '81.2.69.160';
    const first = await attempt('dave', passwordOf('dave'), { source });
    expect(first.status).toBe(303);
    const deviceCookie = first.setCookies.find((c) => c.startsWith('lanyard_device='))!;
    expect(deviceCookie).toMatch(/; Path=\/login; HttpOnly; Secure; SameSite=Strict; Max-Age=\d+/);
    expect(await notices('new_device', 'dave')).toHaveLength(0);
    const second = await attempt('dave', passwordOf('dave'), { source }); // a browser without the cookie
    expect(second.status).toBe(303);
    expect(second.device).not.toBe(first.device);
    expect(await notices('new_device', 'dave')).toHaveLength(1);
    await attempt('dave', passwordOf('dave'), { source, device: second.device! });
    await attempt('dave', passwordOf('dave'), { source, device: first.device! });
    expect(await notices('new_device', 'dave')).toHaveLength(1);
    expect((await audits('dave')).filter((r) => r.event === 'new_device')).toHaveLength(1);
    // A forged, malformed device cookie is replaced, not stored.
    const forged = await attempt('dave', passwordOf('dave'), { source, device: 'x' });
    expect(forged.device).toMatch(/^[\w-]{43}$/);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const spoofed = await attempt('erin', 'wrong again', {
      source: 'unused',
      peer: '45.20.0.9',
      forwardedFor: '81.2.69.160',
    });
    expect(spoofed.status).toBe(401);
    expect((await audits('erin'))[0]).toMatchObject({ outcome: 'failure', source: '45.20.0.9' });
  });

  it('never sends a password, session cookie or device ID to the webhook', async () => {
    await notifier.idle();
    expect(received.length).toBeGreaterThan(3);
    for (const { raw } of received) {
      for (const secret of secrets) expect(raw).not.toContain(secret);
    }
  });
});
