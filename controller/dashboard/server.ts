// The dashboard's HTTP adapter: a login form that exchanges the login token for a session
// cookie, the page, its JSON state for polling, and two static assets. Read-only: the only
// POSTs are login and logout, both same-origin checked. Every answer carries strict security
// headers and no-store. The token is never logged and never travels in a URL.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { DASHBOARD_CSS, DASHBOARD_JS } from './assets.ts';
import { FailureLimit, Sessions, checkLoginToken, tokenMatches } from './auth.ts';
import { DASHBOARD_ERRORS, type DashboardErrorCode } from './errors.ts';
import { renderDashboard, renderLogin } from './render.ts';
import type { DashboardView } from './view.ts';

export const SESSION_COOKIE = 'lanyard_dashboard';
const CSRF_COOKIE = 'lanyard_dashboard_form';
const MAX_BODY = 4096;

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: with it, Chromium sends "Origin: null" on the login form's POST.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});

export interface DashboardServerOptions {
  /** The login token (checkLoginToken's shape). */
  token: string;
  /** The current view, computed per request. */
  view: () => DashboardView;
  clock: Clock;
  log?: Logger;
  /** Session lifetime; default 1 h. */
  sessionTtlMs?: number;
  maxSessions?: number;
  /** Failed logins per window before logins are refused; default 10 a minute. */
  loginFailures?: { max: number; windowMs: number };
}

function cookies(request: FastifyRequest): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) found.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return found;
}

function cookie(request: FastifyRequest, name: string, value: string, maxAgeS: number, path = '/'): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure}`;
}

/** A POST from the dashboard's own pages: the browser's Origin is this server's. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  return typeof origin === 'string' && origin === `${request.protocol}://${request.headers.host ?? ''}`;
}

export function buildDashboardServer(options: DashboardServerOptions): FastifyInstance {
  const token = checkLoginToken(options.token);
  const log = options.log ?? silentLogger;
  const sessions = new Sessions({
    clock: options.clock,
    ...(options.sessionTtlMs !== undefined && { ttlMs: options.sessionTtlMs }),
    ...(options.maxSessions !== undefined && { maxSessions: options.maxSessions }),
  });
  const failures = new FailureLimit({ clock: options.clock, ...options.loginFailures });
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY, requestTimeout: 10_000 });

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: MAX_BODY },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.addHook('onSend', (_request, reply, payload, done) => {
    void reply.headers(SECURITY_HEADERS);
    done(null, payload);
  });

  const signedIn = (request: FastifyRequest) => sessions.valid(cookies(request).get(SESSION_COOKIE));
  const loginPage = (request: FastifyRequest, reply: FastifyReply, status: number, error?: string) => {
    const csrf = randomBytes(24).toString('base64url');
    return reply
      .status(status)
      .header('set-cookie', cookie(request, CSRF_COOKIE, csrf, 600, '/login'))
      .type('text/html; charset=utf-8')
      .send(renderLogin({ csrf, ...(error && { error }) }));
  };
  const refuse = (code: DashboardErrorCode, fields: Record<string, unknown> = {}) =>
    log.warn({ code, ...fields }, DASHBOARD_ERRORS[code]);

  app.get('/login', (request, reply) =>
    signedIn(request) ? reply.redirect('/', 303) : loginPage(request, reply, 200),
  );

  app.post('/login', (request, reply) => {
    const retryMs = failures.retryAfterMs();
    if (retryMs > 0) {
      refuse('ERR_DASHBOARD_LOGIN_RATE_LIMITED');
      void reply.header('retry-after', String(Math.ceil(retryMs / 1000)));
      return loginPage(request, reply, 429, 'Too many failed sign-ins. Wait a minute and try again.');
    }
    const form = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
      string,
      unknown
    >;
    const csrf = cookies(request).get(CSRF_COOKIE);
    if (
      !sameOrigin(request) ||
      csrf === undefined ||
      typeof form.csrf !== 'string' ||
      !tokenMatches(csrf, form.csrf)
    ) {
      refuse('ERR_DASHBOARD_CROSS_ORIGIN', { path: '/login' });
      return loginPage(request, reply, 403, 'The sign-in form expired or came from another site. Try again.');
    }
    if (typeof form.token !== 'string' || !tokenMatches(token, form.token)) {
      failures.fail();
      refuse('ERR_DASHBOARD_LOGIN_FAILED');
      return loginPage(request, reply, 401, 'That login token is not valid.');
    }
    const session = sessions.open();
    log.info({}, 'dashboard sign-in');
    return reply
      .header('set-cookie', [
        cookie(request, SESSION_COOKIE, session, Math.floor(sessions.ttlMs / 1000)),
        cookie(request, CSRF_COOKIE, '', 0, '/login'),
      ])
      .redirect('/', 303);
  });

  app.post('/logout', (request, reply) => {
    if (!sameOrigin(request)) {
      refuse('ERR_DASHBOARD_CROSS_ORIGIN', { path: '/logout' });
      return reply.status(403).send({ code: 'ERR_DASHBOARD_CROSS_ORIGIN', message: 'not same-origin' });
    }
    sessions.close(cookies(request).get(SESSION_COOKIE));
    return reply.header('set-cookie', cookie(request, SESSION_COOKIE, '', 0)).redirect('/login', 303);
  });

  app.get('/', (request, reply) => {
    if (!signedIn(request)) return reply.redirect('/login', 303);
    return reply.type('text/html; charset=utf-8').send(renderDashboard(options.view()));
  });

  app.get('/api/state', (request, reply) => {
    if (!signedIn(request)) {
      return reply
        .status(401)
        .send({ code: 'ERR_DASHBOARD_UNAUTHENTICATED', message: 'sign in at /login first' });
    }
    return reply.send(options.view());
  });

  app.get('/assets/dashboard.css', (_request, reply) =>
    reply.type('text/css; charset=utf-8').send(DASHBOARD_CSS),
  );
  app.get('/assets/dashboard.js', (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(DASHBOARD_JS),
  );
  return app;
}
