// OAuth 2.0 Token Exchange (RFC 8693): a workload swaps a user's access token for one scoped to a
// downstream audience, with `act` naming the workload. The workload is who it proves to be
// (idp/workload-auth.ts); the allow list says which workloads may ask for which audiences.
import { randomUUID, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JWTPayload } from 'jose';
import type { Clock } from '../lib/clock.ts';
import { isLanyardError, LanyardError } from '../lib/errors.ts';
import { parseSpiffeId, parseTrustDomain, type SpiffeId } from '../lib/spiffe.ts';
import type { Auditor } from './audit.ts';
import { idpError, type IdpErrorCode } from './errors.ts';
import type { IdpStore } from './store/types.ts';
import type { TokenService } from './tokens.ts';
import {
  authenticateWorkload,
  meshJwks,
  ReplayCache,
  type MeshJwksSource,
  type WorkloadAuthOptions,
} from './workload-auth.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** A chain of more than this many actors is refused: delegation must stay short and auditable. */
export const MAX_ACT_DEPTH = 4;
const MAX_TOKEN_CHARS = 8192;
const MAX_AUDIENCE_CHARS = 512;

export interface ExchangeRule {
  /** An exact SPIFFE ID, or one ending in "/*": every ID below that path. */
  workload: string;
  audiences: string[];
}

export interface TokenExchangeConfig {
  /** The mesh's trust domain: identities of any other are refused. */
  trustDomain: string;
  allow: ExchangeRule[];
  /** Where JWT-SVID keys come from; without it only mTLS authenticates workloads. */
  jwks?: MeshJwksSource;
  /** The `iss` that JWT-SVIDs must carry (the CA's JWT issuer), if set. */
  jwtIssuer?: string;
}

interface CompiledRule {
  matches(id: SpiffeId): boolean;
  audiences: ReadonlySet<string>;
}

const configError = (message: string): never => {
  throw new LanyardError('ERR_CONFIG_INVALID', `token exchange: ${message}`);
};

/** Checks the allow list once, at start: a bad entry stops the server rather than match oddly. */
export function compileAllowList(rules: readonly ExchangeRule[], trustDomain: string): CompiledRule[] {
  if (!Array.isArray(rules) || rules.length > 1024) configError('allow must be a list of at most 1024 rules');
  return rules.map((rule) => {
    if (typeof rule?.workload !== 'string') return configError('each rule needs a workload');
    const prefix = rule.workload.endsWith('/*');
    let base: SpiffeId;
    try {
      base = parseSpiffeId(prefix ? rule.workload.slice(0, -2) : rule.workload);
    } catch {
      return configError(`${JSON.stringify(rule.workload)} is not a SPIFFE ID or ID/* pattern`);
    }
    if (base.trustDomain !== trustDomain)
      configError(`${rule.workload} is outside trust domain ${trustDomain}`);
    const audiences = rule.audiences;
    if (
      !Array.isArray(audiences) ||
      audiences.length === 0 ||
      audiences.length > 64 ||
      audiences.some((aud) => typeof aud !== 'string' || aud.length === 0 || aud.length > MAX_AUDIENCE_CHARS)
    ) {
      configError(`${rule.workload}: audiences must be 1 to 64 non-empty strings`);
    }
    const text = base.toString();
    return {
      matches: prefix ? (id) => id.toString().startsWith(`${text}/`) : (id) => id.toString() === text,
      audiences: new Set(audiences),
    };
  });
}

/** Whether the workload may get a token for `audience`: the reason for a refusal, or null. */
export function authorizeExchange(
  rules: readonly CompiledRule[],
  workload: SpiffeId,
  audience: string,
): 'unknown_workload' | 'audience_not_allowed' | null {
  const matching = rules.filter((rule) => rule.matches(workload));
  if (matching.length === 0) return 'unknown_workload';
  return matching.some((rule) => rule.audiences.has(audience)) ? null : 'audience_not_allowed';
}

type Form = Record<string, string | string[] | undefined>;

function one(form: Form, name: string, max = 2048): string | undefined {
  const value = form[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > max) {
    throw idpError('ERR_IDP_REQUEST_INVALID', `${name} must be given once, at most ${max} characters`);
  }
  return value;
}

function many(form: Form, name: string): string[] {
  const value = form[name];
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (values.length > 16 || values.some((item) => item.length > MAX_AUDIENCE_CHARS)) {
    throw idpError('ERR_IDP_REQUEST_INVALID', `${name} is repeated too often or too long`);
  }
  return values.filter((item) => item !== '');
}

/** The `act` claim, rebuilt from `sub`s only, and its depth; a malformed chain is refused. */
function actChain(value: unknown, depth = 0): { chain: Record<string, unknown> | undefined; depth: number } {
  if (value === undefined) return { chain: undefined, depth };
  const act = typeof value === 'object' && value !== null ? (value as { sub?: unknown; act?: unknown }) : {};
  if (typeof act.sub !== 'string' || depth >= MAX_ACT_DEPTH) {
    throw idpError('ERR_IDP_GRANT_INVALID', 'the subject token has a malformed or too long actor chain');
  }
  const inner = actChain(act.act, depth + 1);
  return { chain: { sub: act.sub, ...(inner.chain && { act: inner.chain }) }, depth: inner.depth };
}

export interface ExchangeRequest {
  workload: SpiffeId;
  form: Form;
  /** The client assertion the workload authenticated with, if any (actor_token may repeat it). */
  assertion: string | undefined;
}

export interface ExchangeResponse {
  access_token: string;
  issued_token_type: typeof ACCESS_TOKEN_TYPE;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/** The core of the grant, after the workload is authenticated: checks, claims, signature. */
export class TokenExchange {
  private readonly rules: CompiledRule[];

  constructor(
    config: Pick<TokenExchangeConfig, 'allow' | 'trustDomain'>,
    private readonly tokens: TokenService,
    private readonly store: IdpStore,
    private readonly clock: Clock,
  ) {
    this.rules = compileAllowList(config.allow, parseTrustDomain(config.trustDomain));
  }

  async exchange(request: ExchangeRequest): Promise<{ response: ExchangeResponse; claims: JWTPayload }> {
    const { form, workload } = request;
    const clientId = one(form, 'client_id');
    if (clientId !== undefined && clientId !== workload.toString()) {
      throw idpError('ERR_IDP_WORKLOAD_AUTH_FAILED', 'client_id is not the authenticated workload');
    }
    // The actor is the authenticated workload; another actor_token would let a caller claim to be
    // someone else, so only the caller's own assertion may be repeated there.
    const actorToken = one(form, 'actor_token', MAX_TOKEN_CHARS);
    if (
      actorToken !== undefined &&
      (actorToken !== request.assertion || one(form, 'actor_token_type') !== JWT_TOKEN_TYPE)
    ) {
      throw idpError(
        'ERR_IDP_REQUEST_INVALID',
        'actor_token may only repeat the client assertion (type jwt)',
      );
    }
    const subjectToken = one(form, 'subject_token', MAX_TOKEN_CHARS);
    if (subjectToken === undefined || one(form, 'subject_token_type') !== ACCESS_TOKEN_TYPE) {
      throw idpError(
        'ERR_IDP_REQUEST_INVALID',
        `subject_token with subject_token_type ${ACCESS_TOKEN_TYPE} is required`,
      );
    }
    const requested = one(form, 'requested_token_type');
    if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE) {
      throw idpError('ERR_IDP_REQUEST_INVALID', `only ${ACCESS_TOKEN_TYPE} can be requested`);
    }
    const targets = [...new Set([...many(form, 'audience'), ...many(form, 'resource')])];
    if (targets.length !== 1) {
      throw idpError('ERR_IDP_TARGET_INVALID', 'name exactly one audience (or resource)');
    }
    const audience = targets[0]!;
    const refusal = authorizeExchange(this.rules, workload, audience);
    if (refusal === 'unknown_workload') {
      throw idpError('ERR_IDP_EXCHANGE_UNAUTHORIZED', 'this workload may not exchange tokens', {
        reason: refusal,
      });
    }
    if (refusal === 'audience_not_allowed') {
      throw idpError('ERR_IDP_TARGET_INVALID', 'this workload may not get tokens for that audience', {
        reason: refusal,
      });
    }

    const subject = await this.tokens.verifyAccessToken(subjectToken);
    const user = await this.store.userById(String(subject.sub));
    if (!user || user.disabled) throw idpError('ERR_IDP_GRANT_INVALID', 'the subject token is invalid');
    const subjectScope = typeof subject.scope === 'string' ? subject.scope.split(' ').filter(Boolean) : [];
    const wanted = one(form, 'scope');
    const scope = wanted === undefined ? subjectScope : wanted.split(' ').filter(Boolean);
    if (scope.some((item) => !subjectScope.includes(item))) {
      throw idpError('ERR_IDP_REQUEST_INVALID', 'the scope may only narrow the subject token’s scope');
    }
    const previous = actChain(subject.act);
    if (previous.depth >= MAX_ACT_DEPTH) {
      throw idpError('ERR_IDP_GRANT_INVALID', 'the actor chain is too long');
    }
    const nowS = Math.floor(this.clock.now() / 1000);
    const expiresAt = Math.min(subject.exp!, nowS + Math.floor(this.tokens.accessTokenMs / 1000));
    const claims: JWTPayload = {
      sub: user.id,
      aud: audience,
      client_id: workload.toString(),
      jti: randomUUID(),
      scope: scope.join(' '),
      roles: subject.roles,
      groups: subject.groups,
      amr: subject.amr,
      acr: subject.acr,
      auth_time: subject.auth_time,
      preferred_username: subject.preferred_username,
      act: { sub: workload.toString(), ...(previous.chain && { act: previous.chain }) },
    };
    const token = await this.tokens.signAccessToken(claims, expiresAt);
    return {
      claims,
      response: {
        access_token: token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: Math.max(0, expiresAt - nowS),
        scope: scope.join(' '),
      },
    };
  }
}

/** RFC 8693 §2.2.2 and RFC 6749 §5.2: which OAuth error, and status, each refusal becomes. */
const WIRE: Partial<Record<IdpErrorCode, [number, string]>> = {
  ERR_IDP_WORKLOAD_AUTH_FAILED: [401, 'invalid_client'],
  ERR_IDP_EXCHANGE_UNAUTHORIZED: [400, 'unauthorized_client'],
  ERR_IDP_TARGET_INVALID: [400, 'invalid_target'],
  ERR_IDP_GRANT_INVALID: [400, 'invalid_grant'],
  ERR_IDP_REQUEST_INVALID: [400, 'invalid_request'],
};

/** The client certificate of the connection, if it is TLS and the client sent one. */
function peerOf(request: FastifyRequest): { cert: X509Certificate | null; authorized: boolean } {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerX509Certificate !== 'function') return { cert: null, authorized: false };
  return { cert: socket.getPeerX509Certificate() ?? null, authorized: socket.authorized === true };
}

export type TokenExchangeHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

/** The HTTP adapter: authenticate the workload, exchange, audit, map errors to OAuth errors. */
export function tokenExchangeHandler(options: {
  config: TokenExchangeConfig;
  issuer: string;
  tokens: TokenService;
  store: IdpStore;
  audit: Auditor;
  clock: Clock;
  replay?: ReplayCache;
}): TokenExchangeHandler {
  const { config, issuer, clock, audit } = options;
  const exchange = new TokenExchange(config, options.tokens, options.store, clock);
  const auth: WorkloadAuthOptions = {
    trustDomain: config.trustDomain,
    audiences: [`${issuer}/token`, issuer],
    jwks: config.jwks ? meshJwks(config.jwks) : null,
    ...(config.jwtIssuer !== undefined && { jwtIssuer: config.jwtIssuer }),
    clock,
    replay: options.replay ?? new ReplayCache(clock),
  };
  return async (request, reply) => {
    const form = (request.body ?? {}) as Form;
    let workload: SpiffeId | null = null;
    let subjectUser: { id: string | null; name: string | null } = { id: null, name: null };
    try {
      const assertion = one(form, 'client_assertion', MAX_TOKEN_CHARS);
      const peer = peerOf(request);
      workload = await authenticateWorkload(
        {
          peerCertificate: peer.cert,
          peerAuthorized: peer.authorized,
          assertionType: one(form, 'client_assertion_type'),
          assertion,
        },
        auth,
      );
      const { response, claims } = await exchange.exchange({ workload, form, assertion });
      subjectUser = {
        id: String(claims.sub),
        name: (claims.preferred_username as string | undefined) ?? null,
      };
      await audit.record({
        event: 'token_exchange',
        username: subjectUser.name,
        userId: subjectUser.id,
        source: workload.toString(),
        outcome: 'success',
        // Bounded: only audiences on the allow list get this far.
        reason: `audience=${String(claims.aud)}`,
      });
      return reply.code(200).send(response);
    } catch (error) {
      const wire = isLanyardError(error) ? WIRE[error.code as IdpErrorCode] : undefined;
      if (!wire || !isLanyardError(error)) throw error;
      await audit.record({
        event: 'token_exchange',
        username: subjectUser.name,
        userId: subjectUser.id,
        source: workload?.toString() ?? request.ip,
        outcome: 'failure',
        reason: error.code,
      });
      return reply.code(wire[0]).send({ error: wire[1], error_description: error.message });
    }
  };
}
