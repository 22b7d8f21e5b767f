// The receiver of identity-provider notices on the control plane's HTTP port:
// POST /monitor/v1/idp-notices, one JSON notice per request, with the bearer token read from
// LANYARD_MONITOR_IDP_TOKEN_FILE. The token is checked before the body is read; authenticated
// notices are rate-limited (they cost Events, webhooks and blocks), validated strictly
// (idp-notices.ts), and the anomalies are handed to the responder.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.ts';
import { LanyardError, type CoreErrorCode } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Detection } from './detectors.ts';
import { MONITOR_ERRORS, type MonitorErrorCode } from './errors.ts';
import { IDP_NOTICE_KINDS, idpNoticeDetection, validateIdpNotice } from './idp-notices.ts';

export const IDP_NOTICE_PATH = '/monitor/v1/idp-notices';
export const IDP_NOTICE_BODY_LIMIT = 16 * 1024;

const TOKEN_SHAPE = /^[\x21-\x7e]{32,512}$/;

/** Checks a receiver token's shape: 32 to 512 printable ASCII characters, no spaces. */
export function checkIdpNoticeToken(token: string): string {
  if (!TOKEN_SHAPE.test(token)) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      'the identity-provider notice token must be 32 to 512 printable ASCII characters without spaces',
    );
  }
  return token;
}

/** Reads the token from a file (a mounted Secret), without its trailing newline; never echoes it. */
export function readIdpNoticeTokenFile(path: string): string {
  if (statSync(path).size > 1024) return checkIdpNoticeToken('');
  return checkIdpNoticeToken(readFileSync(path, 'utf8').replace(/\r?\n$/, ''));
}

export interface IdpNoticeRouteOptions {
  token: string;
  /** Where anomalies go: the monitor host counts them and hands them to the responder. */
  respond: (detection: Detection) => void;
  registry: Registry;
  clock: Clock;
  log: Logger;
  /** Sustained notices per second, and the burst. Default 50 and 50. */
  ratePerSecond?: number;
  burst?: number;
}

type Outcome = 'accepted' | 'unauthenticated' | 'invalid' | 'too_large' | 'rate_limited';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** A token bucket on the injected clock. */
class Bucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  take(): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function refuse(
  reply: FastifyReply,
  status: number,
  code: MonitorErrorCode,
  message: string = MONITOR_ERRORS[code],
) {
  return reply.status(status).send({ error: code, message });
}

export function registerIdpNoticeRoute(app: FastifyInstance, options: IdpNoticeRouteOptions): void {
  const expected = digest(`Bearer ${checkIdpNoticeToken(options.token)}`);
  const rate = options.ratePerSecond ?? 50;
  const burst = options.burst ?? rate;
  if (!(rate > 0 && burst >= 1)) throw new TypeError('idp notices need ratePerSecond > 0 and burst >= 1');
  const bucket = new Bucket(rate, burst, options.clock);
  const notices = new Counter({
    name: 'lanyard_monitor_idp_notices_total',
    help: 'Identity-provider notices by kind ("_unknown" until one is validated) and outcome (accepted, unauthenticated, invalid, too_large, rate_limited).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [options.registry],
  });
  const count = (outcome: Outcome, kind = '_unknown') => notices.inc({ kind, outcome });
  for (const kind of IDP_NOTICE_KINDS) notices.inc({ kind, outcome: 'accepted' }, 0);

  void app.register((scope, _opts, done) => {
    // Only this route's errors: a body over the limit or unparsable JSON gets the monitor's shape.
    scope.setErrorHandler((error: { statusCode?: number; code?: string }, _request, reply) => {
      if (error.statusCode === 413) {
        count('too_large');
        return reply.status(413).send({
          error: 'ERR_MONITOR_IDP_NOTICE_INVALID',
          message: `a notice is at most ${IDP_NOTICE_BODY_LIMIT} bytes`,
        });
      }
      if (error.statusCode === 400 || error.statusCode === 415) {
        count('invalid');
        return refuse(
          reply,
          error.statusCode,
          'ERR_MONITOR_IDP_NOTICE_INVALID',
          error.statusCode === 415
            ? 'a notice must be sent as application/json'
            : 'the notice is not valid JSON',
        );
      }
      options.log.error({ code: error.code }, 'idp notice receiver failed');
      return reply.status(500).send({ error: 'internal', message: 'internal error' });
    });
    scope.post(
      IDP_NOTICE_PATH,
      {
        bodyLimit: IDP_NOTICE_BODY_LIMIT,
        // Before the body is read: a caller without the token costs one digest.
        onRequest: (request, reply, next) => {
          const header = request.headers.authorization;
          const presented = typeof header === 'string' && header.length <= 1024 ? header : '';
          if (!timingSafeEqual(digest(presented), expected)) {
            count('unauthenticated');
            void refuse(reply, 401, 'ERR_MONITOR_IDP_UNAUTHENTICATED');
            return;
          }
          if (!bucket.take()) {
            count('rate_limited');
            void reply.header('retry-after', '1');
            void refuse(reply, 429, 'ERR_MONITOR_IDP_RATE_LIMITED');
            return;
          }
          next();
        },
      },
      (request, reply) => {
        const result = validateIdpNotice(request.body, options.clock.now());
        if (!result.ok) {
          count('invalid');
          return refuse(
            reply,
            400,
            'ERR_MONITOR_IDP_NOTICE_INVALID',
            `notice.${result.field} ${result.problem}`,
          );
        }
        const { notice } = result;
        count('accepted', notice.kind);
        const detection = idpNoticeDetection(notice);
        if (detection) options.respond(detection);
        return reply.status(202).send({ accepted: true });
      },
    );
    done();
  });
}
