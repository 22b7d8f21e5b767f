// The admin HTTP API: the same operations as `lanyard idp users|clients`, through the same core
// (idp/admin.ts), so the CLI and the API cannot drift. JSON in and out; errors as problem+json.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import {
  addClient,
  addUser,
  disableUser,
  listClients,
  listUsers,
  resetMfa,
  summarizeClient,
  summarizeUser,
} from './admin.ts';
import type { Auditor } from './audit.ts';
import { idpError, type IdpErrorCode } from './errors.ts';
import type { IdpStore } from './store/types.ts';

export const ADMIN_PREFIX = '/admin/v1';

export interface AdminApiOptions {
  store: IdpStore;
  clock: Clock;
  audit: Auditor;
  /** SHA-256 (hex) of the admin bearer token; the token itself is never configured or stored. */
  tokenSha256: string;
}

const STATUS: Partial<Record<IdpErrorCode, number>> = {
  ERR_IDP_ADMIN_UNAUTHORIZED: 401,
  ERR_IDP_REQUEST_INVALID: 400,
  ERR_IDP_NOT_FOUND: 404,
  ERR_IDP_STORE: 409,
};

function problem(reply: FastifyReply, status: number, code: string, detail: string): FastifyReply {
  const title =
    { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict' }[status] ?? 'Error';
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status, code, detail });
}

const invalid = (message: string): never => {
  throw idpError('ERR_IDP_REQUEST_INVALID', message);
};

/** Reads a JSON object with exactly the fields allowed, each of the right type. */
function fields<T extends Record<string, 'string' | 'strings' | 'boolean'>>(
  body: unknown,
  shape: T,
  required: (keyof T)[],
): { [K in keyof T]?: T[K] extends 'string' ? string : T[K] extends 'boolean' ? boolean : string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return invalid('the body must be a JSON object');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const kind = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (!kind) invalid(`unknown field ${JSON.stringify(key.slice(0, 64))}`);
    const ok =
      kind === 'strings'
        ? Array.isArray(value) && value.length <= 64 && value.every((item) => typeof item === 'string')
        : typeof value === kind;
    if (!ok) invalid(`${key} must be ${kind === 'strings' ? 'a list of strings' : `a ${kind}`}`);
    out[key] = value;
  }
  for (const key of required) if (out[key as string] === undefined) invalid(`${String(key)} is required`);
  return out as never;
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') && header.length <= 1024 ? header.slice(7) : undefined;
}

/** Registers the API in its own scope (JSON parser, error handler, authentication hook). */
export function adminApi(options: AdminApiOptions): (app: FastifyInstance) => void {
  const { store, clock, audit } = options;
  if (!/^[0-9a-f]{64}$/.test(options.tokenSha256)) {
    throw idpError(
      'ERR_IDP_REQUEST_INVALID',
      'the admin token hash must be 64 lowercase hex digits (SHA-256)',
    );
  }
  const expected = Buffer.from(options.tokenSha256, 'hex');

  const authorized = (request: FastifyRequest): boolean => {
    const token = bearer(request);
    // Hashing first gives equal-length inputs, so the comparison is constant-time.
    return token !== undefined && timingSafeEqual(createHash('sha256').update(token).digest(), expected);
  };

  const record = (
    request: FastifyRequest,
    operation: string,
    outcome: 'success' | 'failure',
    user: { id: string | null; username: string | null },
    code?: string,
  ): Promise<void> =>
    audit.record({
      event: 'admin',
      username: user.username,
      userId: user.id,
      source: request.ip,
      outcome,
      reason: code ? `${operation}:${code}` : operation,
    });

  return (app) => {
    void app.register(
      (scope, _options, done) => {
        scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, parsed) => {
          try {
            parsed(null, JSON.parse(body as string));
          } catch {
            parsed(idpError('ERR_IDP_REQUEST_INVALID', 'the body is not valid JSON'), undefined);
          }
        });

        scope.addHook('onRequest', async (request, reply) => {
          if (authorized(request)) return;
          await record(
            request,
            'authenticate',
            'failure',
            { id: null, username: null },
            'ERR_IDP_ADMIN_UNAUTHORIZED',
          );
          reply.header('www-authenticate', 'Bearer realm="lanyard-idp-admin"');
          return problem(reply, 401, 'ERR_IDP_ADMIN_UNAUTHORIZED', 'a valid admin bearer token is required');
        });

        scope.setErrorHandler(async (error, request, reply) => {
          const code = isLanyardError(error) ? (error.code as IdpErrorCode) : undefined;
          const status = code ? STATUS[code] : undefined;
          if (code && status && isLanyardError(error)) {
            const operation = String(
              (request.routeOptions.config as { operation?: string }).operation ?? 'unknown',
            ).slice(0, 64);
            await record(request, operation, 'failure', { id: null, username: null }, code);
            return problem(reply, status, code, error.message);
          }
          const fastifyStatus = (error as { statusCode?: number }).statusCode;
          if (fastifyStatus !== undefined && fastifyStatus >= 400 && fastifyStatus < 500) {
            return problem(reply, fastifyStatus, 'ERR_IDP_REQUEST_INVALID', 'the request is not accepted');
          }
          return problem(reply, 500, 'ERR_INTERNAL', 'internal error');
        });

        scope.get('/users', { config: { operation: 'user_list' } }, async () => ({
          users: await listUsers(store),
        }));

        scope.post('/users', { config: { operation: 'user_add' } }, async (request, reply) => {
          const input = fields(
            request.body,
            { username: 'string', password: 'string', roles: 'strings', groups: 'strings' },
            ['username', 'password'],
          );
          const user = await addUser(store, clock, {
            username: input.username!,
            password: input.password!,
            roles: input.roles ?? [],
            groups: input.groups ?? [],
          });
          await record(request, 'user_add', 'success', user);
          return reply.code(201).send({ user: await summarizeUser(store, user) });
        });

        const byName = (
          operation: string,
          act: (username: string) => Promise<{ id: string; username: string }>,
        ) =>
          scope.post<{ Params: { username: string } }>(
            `/users/:username/${operation}`,
            { config: { operation: `user_${operation.replace('-', '_')}` } },
            async (request) => {
              const user = await act(request.params.username);
              await record(request, `user_${operation.replace('-', '_')}`, 'success', user);
              return { user: await summarizeUser(store, (await store.userById(user.id))!) };
            },
          );
        byName('disable', (username) => disableUser(store, clock, username));
        byName('reset-mfa', (username) => resetMfa(store, username));

        scope.get('/clients', { config: { operation: 'client_list' } }, async () => ({
          clients: await listClients(store),
        }));

        scope.post('/clients', { config: { operation: 'client_add' } }, async (request, reply) => {
          const input = fields(
            request.body,
            { id: 'string', name: 'string', redirectUris: 'strings', confidential: 'boolean' },
            ['id', 'redirectUris'],
          );
          const { client, secret } = await addClient(store, clock, {
            id: input.id!,
            name: input.name ?? input.id!,
            redirectUris: input.redirectUris!,
            confidential: input.confidential ?? false,
          });
          await record(request, 'client_add', 'success', { id: null, username: null });
          // The secret is shown this once; only its hash is kept.
          return reply
            .code(201)
            .send({ client: summarizeClient(client), ...(secret && { clientSecret: secret }) });
        });
        done();
      },
      { prefix: ADMIN_PREFIX },
    );
  };
}
