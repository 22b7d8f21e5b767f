import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.ts';
import { generateLoginToken } from './auth.ts';
import { DashboardModel } from './model.ts';
import { buildDashboardServer, SECURITY_HEADERS, SESSION_COOKIE } from './server.ts';
import { buildView } from './view.ts';

const TOKEN = generateLoginToken();
const HOST = '127.0.0.1:15015';
const ORIGIN = `http://${HOST}`;

let app: FastifyInstance | undefined;
let lines: string[] = [];

function start(clock = new FakeClock(), options: { max?: number } = {}) {
  lines = [];
  const record = (fields: Record<string, unknown>, message: string) =>
    lines.push(JSON.stringify({ fields, message }));
  app = buildDashboardServer({
    token: TOKEN,
    clock,
    sessionTtlMs: 60_000,
    loginFailures: { max: options.max ?? 3, windowMs: 60_000 },
    log: { debug: record, info: record, warn: record, error: record },
    view: () =>
      buildView({
        model: new DashboardModel().snapshot(),
        sidecars: [],
        policies: [],
        blocks: [],
        now: clock.now(),
      }),
  });
  return app;
}

afterEach(async () => {
  await app?.close();
  app = undefined;
});

function setCookies(response: LightMyRequestResponse): string[] {
  const value = response.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Opens the login form as a browser would: its form token and cookie. */
async function form(server: FastifyInstance): Promise<{ csrf: string; cookie: string }> {
  const page = await server.inject({ method: 'GET', url: '/login', headers: { host: HOST } });
  expect(page.statusCode).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const cookie = setCookies(page)[0]!.split(';')[0]!;
  return { csrf, cookie };
}

async function login(
  server: FastifyInstance,
  token: string,
  overrides: { origin?: string | null; csrf?: string } = {},
): Promise<LightMyRequestResponse> {
  const { csrf, cookie } = await form(server);
  return server.inject({
    method: 'POST',
    url: '/login',
    headers: {
      host: HOST,
      cookie,
      'content-type': 'application/x-www-form-urlencoded',
      ...(overrides.origin !== null && { origin: overrides.origin ?? ORIGIN }),
    },
    payload: new URLSearchParams({ csrf: overrides.csrf ?? csrf, token }).toString(),
  });
}

function sessionOf(response: LightMyRequestResponse): string | undefined {
  const line = setCookies(response).find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  return line?.split(';')[0];
}

describe('dashboard server', () => {
  it('without a session: pages redirect to the login form, the JSON endpoint answers 401', async () => {
    const server = start();
    const page = await server.inject({ method: 'GET', url: '/', headers: { host: HOST } });
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/login');
    const state = await server.inject({ method: 'GET', url: '/api/state', headers: { host: HOST } });
    expect(state.statusCode).toBe(401);
    expect(state.json()).toMatchObject({ code: 'ERR_DASHBOARD_UNAUTHENTICATED' });
    const forged = await server.inject({
      method: 'GET',
      url: '/api/state',
      headers: { host: HOST, cookie: `${SESSION_COOKIE}=${TOKEN}` },
    });
    expect(forged.statusCode).toBe(401);
  });

  it('sends the security headers on every answer, including errors and assets', async () => {
    const server = start();
    for (const url of [
      '/',
      '/login',
      '/api/state',
      '/assets/dashboard.js',
      '/assets/dashboard.css',
      '/nothing',
    ]) {
      const response = await server.inject({ method: 'GET', url, headers: { host: HOST } });
      for (const [name, value] of Object.entries(SECURITY_HEADERS))
        expect(response.headers[name]).toBe(value);
    }
    expect(SECURITY_HEADERS['content-security-policy']).toMatch(/script-src 'self';/);
    expect(SECURITY_HEADERS['content-security-policy']).not.toContain('unsafe-inline');
    expect(SECURITY_HEADERS['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('exchanges the right token for an HttpOnly, SameSite=Strict session cookie that reads the state', async () => {
    const server = start();
    const response = await login(server, TOKEN);
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/');
    const line = setCookies(response).find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(line).toMatch(/; HttpOnly; SameSite=Strict/);
    expect(line).toContain('Max-Age=60');
    expect(line).not.toContain(TOKEN);
    const cookie = sessionOf(response)!;
    const state = await server.inject({ method: 'GET', url: '/api/state', headers: { host: HOST, cookie } });
    expect(state.statusCode).toBe(200);
    expect(state.json()).toHaveProperty('tables.workloads');
    const page = await server.inject({ method: 'GET', url: '/', headers: { host: HOST, cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<h1>Lanyard dashboard</h1>');
    // The token never reaches the log.
    expect(lines.join('\n')).not.toContain(TOKEN);
  });

  it('refuses a wrong token with 401 and no session', async () => {
    const server = start();
    const response = await login(server, `${TOKEN}x`);
    expect(response.statusCode).toBe(401);
    expect(sessionOf(response)).toBeUndefined();
    expect(response.body).toContain('That login token is not valid.');
    expect(lines.some((l) => l.includes('ERR_DASHBOARD_LOGIN_FAILED'))).toBe(true);
    expect(lines.join('\n')).not.toContain(TOKEN);
  });

  it('refuses a login from another origin, without Origin, or without the form token', async () => {
    const server = start();
    for (const overrides of [{ origin: 'http://evil.example' }, { origin: null }, { csrf: 'forged' }]) {
      const response = await login(server, TOKEN, overrides);
      expect(response.statusCode).toBe(403);
      expect(sessionOf(response)).toBeUndefined();
    }
  });

  it('ends a session at its lifetime', async () => {
    const clock = new FakeClock();
    const server = start(clock);
    const cookie = sessionOf(await login(server, TOKEN))!;
    const read = () => server.inject({ method: 'GET', url: '/api/state', headers: { host: HOST, cookie } });
    clock.advance(59_000);
    expect((await read()).statusCode).toBe(200);
    clock.advance(1_000);
    expect((await read()).statusCode).toBe(401);
  });

  it('ends a session at logout', async () => {
    const server = start();
    const cookie = sessionOf(await login(server, TOKEN))!;
    const out = await server.inject({
      method: 'POST',
      url: '/logout',
      headers: { host: HOST, cookie, origin: ORIGIN },
    });
    expect(out.statusCode).toBe(303);
    const state = await server.inject({ method: 'GET', url: '/api/state', headers: { host: HOST, cookie } });
    expect(state.statusCode).toBe(401);
  });

  it('limits failed logins: past the limit even the right token waits for the window', async () => {
    const clock = new FakeClock();
    const server = start(clock, { max: 3 });
    for (let i = 0; i < 3; i += 1) expect((await login(server, 'wrong-token')).statusCode).toBe(401);
    const limited = await login(server, TOKEN);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect(sessionOf(limited)).toBeUndefined();
    clock.advance(60_000);
    expect((await login(server, TOKEN)).statusCode).toBe(303);
  });

  it('bounds the login body', async () => {
    const server = start();
    const { cookie } = await form(server);
    const response = await server.inject({
      method: 'POST',
      url: '/login',
      headers: { host: HOST, cookie, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${'a'.repeat(5000)}`,
    });
    expect(response.statusCode).toBe(413);
  });

  it('refuses a login token that is too short to be secret', () => {
    expect(() =>
      buildDashboardServer({ token: 'short', clock: new FakeClock(), view: () => ({}) as never }),
    ).toThrow(/32 to 512/);
  });
});
