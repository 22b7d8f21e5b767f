// The mutating admission webhook over HTTPS: POST /inject takes an AdmissionReview v1 and
// answers with the injector's patch. Thin: all decisions are in admission.ts and injector.ts.
import type { Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { admit, MalformedReviewError, parseAdmissionReview } from './admission.ts';
import { resolveInjectOptions, type InjectOptions } from './injector.ts';

/** Reviews of pods are small; 2 MiB leaves room for big pod specs and refuses abuse with 413. */
export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;

export interface TlsPems {
  certPem: string;
  keyPem: string;
}

export interface InjectionWebhookOptions {
  options: InjectOptions;
  /** Set for a real HTTPS listener; in-process tests (`inject`) may leave it out. */
  tls?: TlsPems;
  bodyLimit?: number;
  log?: Logger;
}

export interface StartInjectionWebhookOptions extends InjectionWebhookOptions {
  tls: TlsPems;
  /** Default 15017; 0 for any free port. */
  port?: number;
  host?: string;
}

export interface InjectionWebhook {
  /** The bound port. */
  readonly port: number;
  readonly app: FastifyInstance;
  /** Swaps the serving certificate without dropping the listener (new connections use it). */
  updateTls(tls: TlsPems): void;
  close(): Promise<void>;
}

export function buildInjectionWebhook(config: InjectionWebhookOptions): FastifyInstance {
  // Checked once, at start: a bad option is a deployment error, not a per-request one.
  resolveInjectOptions(config.options);
  const log = config.log ?? silentLogger;
  const bodyLimit = config.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app: FastifyInstance = config.tls
    ? Fastify({ logger: false, bodyLimit, https: { cert: config.tls.certPem, key: config.tls.keyPem } })
    : Fastify({ logger: false, bodyLimit });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) log.error({ err: String(error), url: request.url }, 'injection webhook failed');
    else log.warn({ status, code: error.code, url: request.url }, 'injection webhook refused a request');
    return reply.status(status).send({ error: status === 500 ? 'internal error' : error.message });
  });

  app.post('/inject', (request, reply) => {
    let outcome;
    try {
      outcome = admit(parseAdmissionReview(request.body), config.options);
    } catch (error) {
      if (!(error instanceof MalformedReviewError)) throw error;
      log.warn({ err: error.message }, 'malformed AdmissionReview');
      return reply.status(400).send({ error: `malformed AdmissionReview: ${error.message}` });
    }
    log.info(
      { uid: outcome.review.response.uid, pod: outcome.subject, decision: outcome.decision },
      outcome.message,
    );
    return reply.send(outcome.review);
  });

  app.get('/healthz', () => ({ status: 'ok' }));
  return app;
}

export async function startInjectionWebhook(config: StartInjectionWebhookOptions): Promise<InjectionWebhook> {
  const app = buildInjectionWebhook(config);
  await app.listen({ port: config.port ?? 15017, host: config.host ?? '0.0.0.0' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('webhook listener has no port');
  return {
    port: address.port,
    app,
    updateTls(tls) {
      (app.server as HttpsServer).setSecureContext({ cert: tls.certPem, key: tls.keyPem });
    },
    close: () => app.close(),
  };
}
