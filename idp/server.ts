import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlockList } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import type { Auditor } from './audit.ts';
import { clientAddress } from './client-address.ts';
import type { LoginDefences, PendingLogin } from './defences.ts';
import { loginPage, messagePage, mfaPage } from './html.ts';
import type { SigningKeys } from './keys.ts';
import type { MfaService } from './mfa.ts';
import type { PasswordChecker } from './password.ts';
import { hashToken, type RefreshTokens } from './refresh.ts';
import type { ClientRecord, IdpStore, SessionRecord } from './store/types.ts';
import type { LoginThrottle } from './throttle.ts';
import type { TokenService } from './tokens.ts';

export interface IdpServerOptions {
  /** The issuer URL, exactly as it appears in tokens and discovery. */
  issuer: string;
  store: IdpStore;
  keys: SigningKeys;
  tokens: TokenService;
  refresh: RefreshTokens;
  passwords: PasswordChecker;
  mfa: MfaService;
  audit: Auditor;
  accountThrottle: LoginThrottle;
  sourceThrottle: LoginThrottle;
  clock: Clock;
  /** A login must finish within this long; a signed-in session lasts sessionMs. */
  loginMs?: number;
  sessionMs?: number;
  /** Injected so tests need not wait out the growing delays. */
  delay?: (ms: number) => Promise<void>;
  /** Credential stuffing, impossible travel, new-device notices (idp/defences.ts). */
  defences?: LoginDefences;
  /** Peers whose X-Forwarded-For is believed; none by default. */
  trustedProxies?: BlockList;
}

interface AuthRequest {
  clientId: string;
  redirectUri: string;
  scope: string;
  state: string | null;
  nonce: string | null;
  codeChallenge: string;
}

/** What the session cookie points at; stored as JSON in the session record. */
interface SessionData {
  csrf: string;
  stage: 'password' | 'mfa' | 'done';
  request: AuthRequest | null;
  amr: string[];
  authTime: number;
  /** Set when the password passed; recorded by the defences when the login completes. */
  pending?: PendingLogin;
}

const COOKIE = 'lanyard_session';
/** A random ID per browser, so that a login from a device never seen before can be noticed. */
const DEVICE_COOKIE = 'lanyard_device';
const DEVICE_MAX_AGE_S = 400 * 24 * 3600;
const CODE_TTL_MS = 60_000;
const MAX_PARAM = 2048;
const GENERIC_LOGIN_ERROR = 'The username or password is incorrect.';
const GENERIC_MFA_ERROR = 'The code is not valid. Codes can be used once.';

const newSecret = (): string => randomBytes(32).toString('base64url');

function single(source: unknown, name: string): string | null | undefined {
  // undefined: absent; null: repeated or not a string (refused, never guessed at).
  const value = (source as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > MAX_PARAM) return null;
  return value;
}

function parseForm(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const existing = out[key];
    out[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return out;
}

function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function pkceS256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

const REFUSED_TITLE = 'Sign-in refused';
const TRAVEL_REFUSED =
  'This sign-in comes from a place you could not have reached since your last sign-in, so it was refused. Try again later, or from where you usually sign in.';
const NO_MFA_REFUSED =
  'This sign-in looks unusual and needs a second factor, but your account has none. Try again later from a device you have used before, or ask an administrator to set up two-step verification for you.';

/** The OpenID Connect provider: discovery, JWKS, code flow with PKCE, login pages, tokens. */
export function buildIdpServer(options: IdpServerOptions): FastifyInstance {
  const { issuer, store, clock, audit } = options;
  const loginMs = options.loginMs ?? 10 * 60_000;
  const sessionMs = options.sessionMs ?? 8 * 3600_000;
  const delay = options.delay ?? ((ms: number) => sleep(ms));
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, trustProxy: false });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, parseForm(body as string)),
  );

  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
    );
    done(null, payload);
  });

  const sourceOf = (request: FastifyRequest): string =>
    clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], options.trustedProxies);

  /** The browser's device ID, issued now if it has none; the cookie goes only to the login pages. */
  function deviceIdOf(request: FastifyRequest, reply: FastifyReply): string {
    const existing = readCookie(request, DEVICE_COOKIE);
    const id = existing && /^[\w-]{43}$/.test(existing) ? existing : newSecret();
    reply.header(
      'set-cookie',
      `${DEVICE_COOKIE}=${id}; Path=/login; HttpOnly; Secure; SameSite=Strict; Max-Age=${DEVICE_MAX_AGE_S}`,
    );
    return id;
  }

  const html = (reply: FastifyReply, status: number, body: string): FastifyReply =>
    reply.code(status).type('text/html; charset=utf-8').send(body);

  const oauthError = (
    reply: FastifyReply,
    status: number,
    error: string,
    description: string,
  ): FastifyReply => reply.code(status).send({ error, error_description: description });

  function setSessionCookie(reply: FastifyReply, id: string, maxAgeMs: number): void {
    reply.header(
      'set-cookie',
      `${COOKIE}=${id}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${Math.floor(maxAgeMs / 1000)}`,
    );
  }

  async function loadSession(
    request: FastifyRequest,
  ): Promise<{ record: SessionRecord; data: SessionData } | null> {
    const id = readCookie(request, COOKIE);
    if (!id || id.length > 64) return null;
    const record = await store.sessionByHash(hashToken(id));
    if (!record || record.expiresAt <= clock.now()) return null;
    return { record, data: JSON.parse(record.data) as SessionData };
  }

  /** A fresh session ID at every stage change, so a planted cookie never becomes a login. */
  async function newSession(
    reply: FastifyReply,
    userId: string | null,
    data: SessionData,
    ttlMs: number,
    previous?: SessionRecord,
  ): Promise<void> {
    if (previous) await store.deleteSession(previous.idHash);
    const id = newSecret();
    const now = clock.now();
    await store.createSession({
      idHash: hashToken(id),
      userId,
      data: JSON.stringify(data),
      createdAt: now,
      expiresAt: now + ttlMs,
    });
    setSessionCookie(reply, id, ttlMs);
  }

  async function finishLogin(
    reply: FastifyReply,
    userId: string,
    data: SessionData,
    previous: SessionRecord,
  ): Promise<FastifyReply> {
    const request = data.request!;
    if (data.pending && options.defences) {
      const user = await store.userById(userId);
      if (user) await options.defences.completed(user, data.pending);
    }
    const code = newSecret();
    await store.saveAuthCode({
      codeHash: hashToken(code),
      clientId: request.clientId,
      userId,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      scope: request.scope,
      nonce: request.nonce,
      amr: data.amr,
      authTime: data.authTime,
      expiresAt: clock.now() + CODE_TTL_MS,
    });
    await newSession(
      reply,
      userId,
      { ...data, stage: 'done', request: null, pending: undefined },
      sessionMs,
      previous,
    );
    const target = new URL(request.redirectUri);
    target.searchParams.set('code', code);
    if (request.state !== null) target.searchParams.set('state', request.state);
    target.searchParams.set('iss', issuer);
    return reply.redirect(target.toString(), 303);
  }

  app.get('/.well-known/openid-configuration', () => ({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    revocation_endpoint: `${issuer}/revoke`,
    end_session_endpoint: `${issuer}/logout`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'profile'],
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'nonce',
      'amr',
      'acr',
      'roles',
      'groups',
      'preferred_username',
    ],
    authorization_response_iss_parameter_supported: true,
  }));

  app.get('/jwks', (_request, reply) => reply.type('application/jwk-set+json').send(options.keys.jwks()));

  app.get('/authorize', async (request, reply) => {
    const query = request.query;
    const clientId = single(query, 'client_id');
    const redirectUri = single(query, 'redirect_uri');
    const client = typeof clientId === 'string' ? await store.clientById(clientId) : null;
    // Until the client and its redirect URI are known good, errors go to the user, never to a URI.
    if (!client || typeof redirectUri !== 'string' || !client.redirectUris.includes(redirectUri)) {
      return html(
        reply,
        400,
        messagePage('Sign-in request refused', 'The application or its redirect address is not registered.'),
      );
    }
    const back = (error: string, description: string): FastifyReply => {
      const target = new URL(redirectUri);
      target.searchParams.set('error', error);
      target.searchParams.set('error_description', description);
      const state = single(query, 'state');
      if (typeof state === 'string') target.searchParams.set('state', state);
      target.searchParams.set('iss', issuer);
      return reply.redirect(target.toString(), 303);
    };
    const responseType = single(query, 'response_type');
    if (responseType !== 'code') return back('unsupported_response_type', 'only the code flow is supported');
    const scope = single(query, 'scope');
    if (typeof scope !== 'string' || !scope.split(' ').includes('openid')) {
      return back('invalid_scope', 'the scope must include openid');
    }
    const challenge = single(query, 'code_challenge');
    const method = single(query, 'code_challenge_method');
    if (typeof challenge !== 'string' || !/^[\w-]{43}$/.test(challenge) || method !== 'S256') {
      return back('invalid_request', 'PKCE with code_challenge_method S256 is required');
    }
    const state = single(query, 'state');
    const nonce = single(query, 'nonce');
    if (state === null || nonce === null)
      return back('invalid_request', 'state and nonce must be single, short values');
    const authRequest: AuthRequest = {
      clientId: client.id,
      redirectUri,
      scope,
      state: state ?? null,
      nonce: nonce ?? null,
      codeChallenge: challenge,
    };
    const existing = await loadSession(request);
    const prompt = single(query, 'prompt');
    const wantsMfa = single(query, 'acr_values')?.split(' ').includes('urn:lanyard:acr:mfa') ?? false;
    if (
      existing?.record.userId &&
      existing.data.stage === 'done' &&
      prompt !== 'login' &&
      (!wantsMfa || existing.data.amr.includes('mfa'))
    ) {
      return finishLogin(
        reply,
        existing.record.userId,
        { ...existing.data, request: authRequest },
        existing.record,
      );
    }
    const data: SessionData = {
      csrf: newSecret(),
      stage: 'password',
      request: authRequest,
      amr: [],
      authTime: 0,
    };
    await newSession(reply, null, data, loginMs, existing?.record);
    return html(reply, 200, loginPage({ csrf: data.csrf, clientName: client.name }));
  });

  /** The pending login of this browser, with its CSRF token checked; null means refuse. */
  async function postedSession(
    request: FastifyRequest,
    stage: SessionData['stage'],
  ): Promise<{ record: SessionRecord; data: SessionData } | 'csrf' | null> {
    const session = await loadSession(request);
    if (!session || session.data.stage !== stage || !session.data.request) return null;
    const csrf = single(request.body, 'csrf');
    if (typeof csrf !== 'string' || !safeEqual(csrf, session.data.csrf)) return 'csrf';
    return session;
  }

  async function clientName(clientId: string): Promise<string> {
    return (await store.clientById(clientId))?.name ?? clientId;
  }

  app.post('/login', async (request, reply) => {
    const session = await postedSession(request, 'password');
    if (session === null) {
      return html(
        reply,
        400,
        messagePage(
          'Sign-in expired',
          'Your sign-in took too long or was not started here. Go back to the application and try again.',
        ),
      );
    }
    if (session === 'csrf') {
      return html(
        reply,
        403,
        messagePage('Sign-in refused', 'The form was not sent by this sign-in page. Reload and try again.'),
      );
    }
    const username = single(request.body, 'username') ?? '';
    const password = single(request.body, 'password') ?? '';
    const source = sourceOf(request);
    const accountKey = `account:${(username ?? '').toLowerCase()}`;
    const sourceKey = `source:${source}`;
    const name = await clientName(session.data.request!.clientId);
    const again = (status: number, error: string): FastifyReply =>
      html(
        reply,
        status,
        loginPage({ csrf: session.data.csrf, error, username: username ?? '', clientName: name }),
      );

    const account = options.accountThrottle.decide(accountKey);
    const bySource = options.sourceThrottle.decide(sourceKey);
    const defended = options.defences?.blocked(source, username) ?? null;
    if (account.blockedUntil !== null || bySource.blockedUntil !== null || defended !== null) {
      await audit.record({
        event: 'login',
        username,
        userId: null,
        source,
        outcome: 'blocked',
        reason:
          defended?.reason ?? (account.blockedUntil !== null ? 'account_throttled' : 'source_throttled'),
      });
      const until = Math.max(account.blockedUntil ?? 0, bySource.blockedUntil ?? 0, defended?.until ?? 0);
      reply.header('retry-after', String(Math.ceil((until - clock.now()) / 1000)));
      return again(429, 'Too many attempts. Wait a few minutes and try again.');
    }
    const wait = Math.max(account.delayMs, bySource.delayMs);
    if (wait > 0) await delay(wait);

    const result = await options.passwords.check(username ?? '', password ?? '');
    if (!result.ok) {
      options.accountThrottle.fail(accountKey);
      options.sourceThrottle.fail(sourceKey);
      await audit.record({
        event: 'login',
        username,
        userId: result.user?.id ?? null,
        source,
        outcome: 'failure',
        reason: result.reason,
      });
      await options.defences?.failed(source, username);
      return again(401, GENERIC_LOGIN_ERROR);
    }
    options.accountThrottle.succeed(accountKey);
    const user = result.user;
    const enrolled = await options.mfa.enrolled(user.id);
    let pending: PendingLogin | undefined;
    if (options.defences) {
      const assessment = await options.defences.assess(user, source, deviceIdOf(request, reply));
      const refusal =
        assessment.refuse ?? (assessment.stepUp.length > 0 && !enrolled ? 'mfa_required_not_enrolled' : null);
      if (refusal !== null) {
        await audit.record({
          event: 'login',
          username,
          userId: user.id,
          source,
          outcome: 'blocked',
          reason: refusal,
        });
        return html(
          reply,
          403,
          messagePage(REFUSED_TITLE, refusal === 'impossible_travel' ? TRAVEL_REFUSED : NO_MFA_REFUSED),
        );
      }
      pending = assessment.pending;
    }
    if (enrolled) {
      await audit.record({
        event: 'login',
        username,
        userId: user.id,
        source,
        outcome: 'success',
        reason: 'password_ok_mfa_pending',
      });
      await newSession(
        reply,
        user.id,
        { ...session.data, stage: 'mfa', csrf: newSecret(), ...(pending && { pending }) },
        loginMs,
        session.record,
      );
      return reply.redirect('/login/mfa', 303);
    }
    await audit.record({
      event: 'login',
      username,
      userId: user.id,
      source,
      outcome: 'success',
      reason: 'password',
    });
    return finishLogin(
      reply,
      user.id,
      { ...session.data, amr: ['pwd'], authTime: clock.now(), ...(pending && { pending }) },
      session.record,
    );
  });

  app.get('/login/mfa', async (request, reply) => {
    const session = await loadSession(request);
    if (!session || session.data.stage !== 'mfa') {
      return html(
        reply,
        400,
        messagePage('Sign-in expired', 'Go back to the application and sign in again.'),
      );
    }
    return html(reply, 200, mfaPage({ csrf: session.data.csrf }));
  });

  app.post('/login/mfa', async (request, reply) => {
    const session = await postedSession(request, 'mfa');
    if (session === null || (session !== 'csrf' && !session.record.userId)) {
      return html(
        reply,
        400,
        messagePage('Sign-in expired', 'Go back to the application and sign in again.'),
      );
    }
    if (session === 'csrf') {
      return html(
        reply,
        403,
        messagePage('Sign-in refused', 'The form was not sent by this sign-in page. Reload and try again.'),
      );
    }
    const userId = session.record.userId!;
    const source = sourceOf(request);
    const accountKey = `mfa:${userId}`;
    const user = await store.userById(userId);
    const decision = options.accountThrottle.decide(accountKey);
    if (decision.blockedUntil !== null || !user || user.disabled) {
      await audit.record({
        event: 'mfa',
        username: user?.username ?? null,
        userId,
        source,
        outcome: 'blocked',
        reason: user?.disabled ? 'disabled' : 'mfa_throttled',
      });
      return html(
        reply,
        429,
        mfaPage({ csrf: session.data.csrf, error: 'Too many attempts. Wait a few minutes and try again.' }),
      );
    }
    if (decision.delayMs > 0) await delay(decision.delayMs);
    try {
      const factor = await options.mfa.verify(userId, single(request.body, 'code') ?? '');
      options.accountThrottle.succeed(accountKey);
      await audit.record({
        event: 'mfa',
        username: user.username,
        userId,
        source,
        outcome: 'success',
        reason: factor,
      });
      const amr = factor === 'otp' ? ['pwd', 'otp', 'mfa'] : ['pwd', 'mfa'];
      return finishLogin(reply, userId, { ...session.data, amr, authTime: clock.now() }, session.record);
    } catch (error) {
      if (!isLanyardError(error, 'ERR_IDP_MFA_FAILED')) throw error;
      options.accountThrottle.fail(accountKey);
      await audit.record({
        event: 'mfa',
        username: user.username,
        userId,
        source,
        outcome: 'failure',
        reason: 'bad_code',
      });
      return html(reply, 401, mfaPage({ csrf: session.data.csrf, error: GENERIC_MFA_ERROR }));
    }
  });

  /** client_secret_basic, client_secret_post, or none for a public client. */
  async function authenticateClient(request: FastifyRequest): Promise<ClientRecord | null> {
    let clientId = single(request.body, 'client_id');
    let secret = single(request.body, 'client_secret');
    const header = request.headers.authorization;
    if (header?.startsWith('Basic ')) {
      if (secret !== undefined) return null; // one method per request (RFC 6749 2.3)
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return null;
      const basicId = decodeURIComponent(decoded.slice(0, colon));
      if (typeof clientId === 'string' && clientId !== basicId) return null;
      clientId = basicId;
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
    if (typeof clientId !== 'string' || secret === null) return null;
    const client = await store.clientById(clientId);
    if (!client) return null;
    if (client.secretHash === null) return secret === undefined ? client : null;
    if (typeof secret !== 'string') return null;
    return safeEqual(hashToken(secret), client.secretHash) ? client : null;
  }

  app.post('/token', async (request, reply) => {
    const client = await authenticateClient(request);
    if (!client) return oauthError(reply, 401, 'invalid_client', 'client authentication failed');
    const body = request.body;
    const grantType = single(body, 'grant_type');
    try {
      if (grantType === 'authorization_code') {
        const code = single(body, 'code');
        const redirectUri = single(body, 'redirect_uri');
        const verifier = single(body, 'code_verifier');
        if (typeof code !== 'string' || typeof redirectUri !== 'string') {
          return oauthError(reply, 400, 'invalid_request', 'code and redirect_uri are required');
        }
        const record = await store.takeAuthCode(hashToken(code));
        const pkceOk =
          typeof verifier === 'string' &&
          /^[A-Za-z0-9._~-]{43,128}$/.test(verifier) &&
          record !== null &&
          safeEqual(pkceS256(verifier), record.codeChallenge);
        if (
          !record ||
          record.clientId !== client.id ||
          record.expiresAt <= clock.now() ||
          record.redirectUri !== redirectUri ||
          !pkceOk
        ) {
          return oauthError(
            reply,
            400,
            'invalid_grant',
            'the authorization code is invalid, expired, or fails its PKCE check',
          );
        }
        return await options.tokens.forCode({
          userId: record.userId,
          clientId: client.id,
          scope: record.scope,
          nonce: record.nonce,
          auth: { amr: record.amr, authTime: record.authTime },
        });
      }
      if (grantType === 'refresh_token') {
        const token = single(body, 'refresh_token');
        if (typeof token !== 'string')
          return oauthError(reply, 400, 'invalid_request', 'refresh_token is required');
        return await options.tokens.forRefresh(token, client.id);
      }
      return oauthError(reply, 400, 'unsupported_grant_type', 'only authorization_code and refresh_token');
    } catch (error) {
      if (isLanyardError(error, 'ERR_IDP_GRANT_INVALID'))
        return oauthError(reply, 400, 'invalid_grant', error.message);
      throw error;
    }
  });

  const userinfo = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (!token) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'invalid_token' });
    }
    try {
      const claims = await options.tokens.verifyAccessToken(token);
      const user = await store.userById(String(claims.sub));
      if (!user || user.disabled) throw new Error('gone');
      return { sub: user.id, preferred_username: user.username, roles: user.roles, groups: user.groups };
    } catch {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .send({ error: 'invalid_token' });
    }
  };
  app.get('/userinfo', userinfo);
  app.post('/userinfo', userinfo);

  app.post('/revoke', async (request, reply) => {
    const client = await authenticateClient(request);
    if (!client) return oauthError(reply, 401, 'invalid_client', 'client authentication failed');
    const token = single(request.body, 'token');
    if (typeof token !== 'string') return oauthError(reply, 400, 'invalid_request', 'token is required');
    // RFC 7009: an unknown token, or an access token (self-contained), is answered 200 as well.
    await options.refresh.revokeToken(token, client.id);
    return reply.code(200).send();
  });

  const logout = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const session = await loadSession(request);
    if (session) await store.deleteSession(session.record.idHash);
    setSessionCookie(reply, '', 0);
    const params = request.method === 'POST' ? request.body : request.query;
    const target = single(params, 'post_logout_redirect_uri');
    const clientId = single(params, 'client_id');
    const client = typeof clientId === 'string' ? await store.clientById(clientId) : null;
    if (typeof target === 'string' && client?.redirectUris.includes(target))
      return reply.redirect(target, 303);
    return html(reply, 200, messagePage('Signed out', 'You are signed out.'));
  };
  app.get('/logout', logout);
  app.post('/logout', logout);

  app.setErrorHandler((error, _request, reply) => {
    if (
      (error as { statusCode?: number }).statusCode === 413 ||
      (error as { statusCode?: number }).statusCode === 415
    ) {
      return oauthError(
        reply,
        (error as { statusCode: number }).statusCode,
        'invalid_request',
        'the request body is not accepted',
      );
    }
    return oauthError(reply, 500, 'server_error', 'internal error');
  });

  return app;
}
