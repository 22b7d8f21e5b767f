// MFA enrolment pages: a signed-in user without TOTP enrols from the browser; one who has it
// replaces it only after a fresh second factor; a login that requires MFA for a user without it
// comes here before its code is issued. The pending secret lives sealed in the session.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import type { Auditor } from './audit.ts';
import { enrolledPage, enrolPage, messagePage, recoveryCodesPage } from './html.ts';
import type { MfaService } from './mfa.ts';
import type { SessionData, SessionHelpers } from './server.ts';
import type { IdpStore, SessionRecord, UserRecord } from './store/types.ts';
import { ACCOUNT_POLICY, LoginThrottle } from './throttle.ts';

export interface EnrolmentOptions {
  store: IdpStore;
  mfa: MfaService;
  audit: Auditor;
  clock: Clock;
  delay?: (ms: number) => Promise<void>;
}

const MFA_AMR = ['pwd', 'otp', 'mfa'];

function field(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value.length <= 2048 ? value : undefined;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

interface Signed {
  record: SessionRecord;
  data: SessionData;
  user: UserRecord;
}

export function enrolmentPages(
  options: EnrolmentOptions,
): (app: FastifyInstance, sessions: SessionHelpers) => void {
  const { store, mfa, audit, clock } = options;
  const delay = options.delay ?? ((ms: number) => sleep(ms));
  // Guessing a 6-digit code is throttled here exactly as at sign-in.
  const throttle = new LoginThrottle(clock, ACCOUNT_POLICY);

  const html = (reply: FastifyReply, status: number, body: string): FastifyReply =>
    reply.code(status).type('text/html; charset=utf-8').send(body);

  return (app, sessions) => {
    /** A signed-in session, or a login waiting for enrolment; null when neither. */
    async function signedIn(request: FastifyRequest): Promise<Signed | null> {
      const session = await sessions.load(request);
      if (!session?.record.userId || (session.data.stage !== 'done' && session.data.stage !== 'enrol'))
        return null;
      const user = await store.userById(session.record.userId);
      return user && !user.disabled ? { ...session, user } : null;
    }

    const notSignedIn = (reply: FastifyReply): FastifyReply =>
      html(reply, 401, messagePage('Sign in first', 'Sign in to an application, then open this page again.'));

    /** The session of a posted form, its CSRF token checked; a reply when refused. */
    async function posted(request: FastifyRequest, reply: FastifyReply): Promise<Signed | FastifyReply> {
      const session = await signedIn(request);
      if (!session) return notSignedIn(reply);
      const csrf = field(request.body, 'csrf');
      if (csrf === undefined || !sameText(csrf, session.data.csrf)) {
        return html(
          reply,
          403,
          messagePage('Request refused', 'The form was not sent by this page. Reload and try again.'),
        );
      }
      return session;
    }

    /** Throttle decision for the code about to be checked; a reply when blocked. */
    async function throttled(
      session: Signed,
      reply: FastifyReply,
      source: string,
    ): Promise<FastifyReply | null> {
      const decision = throttle.decide(`enrol:${session.user.id}`);
      if (decision.blockedUntil !== null) {
        await audit.record({
          event: 'mfa_enrol',
          username: session.user.username,
          userId: session.user.id,
          source,
          outcome: 'blocked',
          reason: 'mfa_throttled',
        });
        return html(reply, 429, messagePage('Too many attempts', 'Wait a few minutes and try again.'));
      }
      if (decision.delayMs > 0) await delay(decision.delayMs);
      return null;
    }

    async function showPending(reply: FastifyReply, session: Signed, status = 200, error?: string) {
      const enrolment = await mfa.showPending(session.user, session.data.enrolment!);
      return html(
        reply,
        status,
        enrolPage({
          csrf: session.data.csrf,
          qrSvg: enrolment.qrSvg,
          secret: enrolment.secret,
          ...(error && { error }),
        }),
      );
    }

    async function startPending(reply: FastifyReply, session: Signed): Promise<FastifyReply> {
      const { enrolment, sealed } = await mfa.startPending(session.user);
      const data: SessionData = { ...session.data, enrolment: sealed };
      await store.updateSession(
        session.record.idHash,
        session.user.id,
        JSON.stringify(data),
        session.record.expiresAt,
      );
      return html(
        reply,
        200,
        enrolPage({ csrf: data.csrf, qrSvg: enrolment.qrSvg, secret: enrolment.secret }),
      );
    }

    app.get('/account/mfa', async (request, reply) => {
      const session = await signedIn(request);
      if (!session) return notSignedIn(reply);
      if (session.data.enrolment) return showPending(reply, session);
      if (await mfa.enrolled(session.user.id)) {
        if (session.data.stage === 'enrol') return notSignedIn(reply);
        return html(reply, 200, enrolledPage({ csrf: session.data.csrf }));
      }
      return startPending(reply, session);
    });

    app.post('/account/mfa', async (request, reply) => {
      const session = await posted(request, reply);
      if (!('user' in session)) return session;
      if (!session.data.enrolment) {
        return html(
          reply,
          400,
          messagePage('Nothing to confirm', 'No enrolment is in progress. Open the page again.'),
        );
      }
      const blocked = await throttled(session, reply, request.ip);
      if (blocked) return blocked;
      const event = {
        event: 'mfa_enrol',
        username: session.user.username,
        userId: session.user.id,
        source: request.ip,
      };
      let codes: string[];
      try {
        codes = await mfa.confirmPending(
          session.user,
          session.data.enrolment,
          field(request.body, 'code') ?? '',
        );
      } catch (error) {
        if (!isLanyardError(error, 'ERR_IDP_MFA_FAILED')) throw error;
        throttle.fail(`enrol:${session.user.id}`);
        await audit.record({ ...event, outcome: 'failure', reason: 'bad_code' });
        return showPending(
          reply,
          session,
          401,
          'The code is not valid. Check the time on your device and try again.',
        );
      }
      throttle.succeed(`enrol:${session.user.id}`);
      await audit.record({ ...event, outcome: 'success', reason: 'totp_enrolled' });
      // The user has just proven the new factor: the session now counts as multi-factor.
      const data: SessionData = { ...session.data, csrf: newCsrf(), amr: MFA_AMR, authTime: clock.now() };
      delete data.enrolment;
      await sessions.renew(reply, session.user.id, data, session.record);
      return html(
        reply,
        200,
        recoveryCodesPage({ codes, csrf: data.csrf, continueLogin: session.data.stage === 'enrol' }),
      );
    });

    app.post('/account/mfa/replace', async (request, reply) => {
      const session = await posted(request, reply);
      if (!('user' in session)) return session;
      if (session.data.stage !== 'done' || !(await mfa.enrolled(session.user.id))) {
        return html(reply, 400, messagePage('Nothing to replace', 'Open the page again.'));
      }
      const blocked = await throttled(session, reply, request.ip);
      if (blocked) return blocked;
      const event = {
        event: 'mfa_reenrol',
        username: session.user.username,
        userId: session.user.id,
        source: request.ip,
      };
      try {
        // A fresh second factor, whatever the session proved earlier: a stolen session is not enough.
        await mfa.verify(session.user.id, field(request.body, 'code') ?? '');
      } catch (error) {
        if (!isLanyardError(error, 'ERR_IDP_MFA_FAILED')) throw error;
        throttle.fail(`enrol:${session.user.id}`);
        await audit.record({ ...event, outcome: 'failure', reason: 'bad_code' });
        return html(
          reply,
          401,
          enrolledPage({ csrf: session.data.csrf, error: 'The code is not valid. Codes can be used once.' }),
        );
      }
      throttle.succeed(`enrol:${session.user.id}`);
      await audit.record({ ...event, outcome: 'success', reason: 'fresh_mfa' });
      return startPending(reply, session);
    });

    app.post('/account/mfa/continue', async (request, reply) => {
      const session = await posted(request, reply);
      if (!('user' in session)) return session;
      if (session.data.stage !== 'enrol' || !session.data.amr.includes('mfa') || !session.data.request) {
        return html(
          reply,
          400,
          messagePage('Sign-in expired', 'Go back to the application and sign in again.'),
        );
      }
      return sessions.finishLogin(reply, session.user.id, session.data, session.record);
    });
  };
}

function newCsrf(): string {
  return randomBytes(32).toString('base64url');
}
