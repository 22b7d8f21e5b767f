// The inbound decision pipeline, in the order the design fixes: blocks of the peer, path
// normalization, end-user token validation, blocks of the user and the token, authorization
// (DENY, ALLOW, default), MFA step-up, rate limit; then the headers the app may trust. Pure of
// sockets: the HTTP adapters (app-forwarder.ts, http2-forwarder.ts) call it.
import type { Clock } from '../lib/clock.ts';
import { systemClock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import type { NormalizedPath } from '../lib/path.ts';
import { evaluate, type Decision, type WorkloadPolicy } from '../lib/policy/index.ts';
import type { UserTokenIssuer } from '../lib/policy/types.generated.ts';
import {
  compileHeaderPolicy,
  forwardHeaders,
  invalidTokenChallenge,
  stepUpChallenge,
  type ClaimHeader,
  type HeaderList,
  type HeaderPolicy,
} from './headers.ts';
import type { BlockKind } from './block-set.ts';
import type { JwtValidator, VerifiedToken } from './jwt/index.ts';
import { createRateLimiter, type RateLimiter } from './ratelimit.ts';
import { tokenFailureOf, tokenId, type TokenFailureKind } from './token-facts.ts';

export interface InboundRequest {
  method: string;
  /** The request target as received (origin form: path and query). */
  url: string;
  /** The Host header's host, lowercase, without port. */
  host: string;
  /** The port the app listens on (what the request was addressed to). */
  port: number;
  headers: HeaderList;
  /** The verified peer SPIFFE ID, or undefined for plaintext (PERMISSIVE). */
  peer: string | undefined;
}

/** What a decision may say of the request's end-user token: never the token itself. */
export interface TokenFacts {
  /** tokenId(): the jti of a token that verified, else a SHA-256 prefix of the token. */
  id: string;
  /** The issuer, for a token that verified. */
  issuer?: string;
  /** Why the token was refused, when it was. */
  failure?: TokenFailureKind;
}

/** The blocks in force (block-set.ts); looked up with verified values only. */
export interface BlockMatcher {
  match(type: BlockKind, value: string): { readonly id: string; readonly type: BlockKind } | undefined;
}

export type InboundOutcome =
  | {
      kind: 'forward';
      /** Normalized path plus the original query: the app sees exactly what was authorized. */
      target: string;
      headers: HeaderList;
      decision: Decision;
      user?: string;
      token?: TokenFacts;
    }
  | {
      kind: 'reject';
      status: 400 | 401 | 403 | 429 | 503;
      headers: Record<string, string>;
      /** Short and safe for the caller: no token, no claim values. */
      message: string;
      decision?: Decision;
      /** Detail for logs and metrics (an error code or a reason). */
      reason: string;
      user?: string;
      token?: TokenFacts;
      /** Set when a block refused the request (reason BLOCKED). */
      block?: { id: string; type: BlockKind };
      /**
       * No rule allowed the request, it carried no end-user token, and the workload accepts
       * tokens: a token might have changed the answer. HTTP keeps its 403; gRPC says
       * UNAUTHENTICATED rather than PERMISSION_DENIED.
       */
      tokenMissing?: boolean;
    };

/** A policy's token issuer in the validator's shape (the CRD carries an inline JWKS as JSON text). */
export type IssuerWithTokens = Omit<UserTokenIssuer, 'jwks'> & { jwks?: unknown };

export interface InboundPipelineOptions {
  /** The compiled policy of this workload; undefined until the first snapshot arrives. */
  policy: () => WorkloadPolicy | undefined;
  normalizePath: (raw: string) => NormalizedPath;
  /** Makes a validator for the issuers of a snapshot; called once per snapshot. */
  validatorFor: (issuers: readonly IssuerWithTokens[]) => JwtValidator<IssuerWithTokens>;
  /** Blocks pushed by the control plane; enforced before any policy, dry-run and AUDIT included. */
  blocks?: BlockMatcher;
  clock?: Clock;
}

const DEFAULT_LOCATION = { header: 'authorization', prefix: 'Bearer ' };

/** The issuers of the workload's policies (WorkloadPolicy.userTokens), inline JWKS parsed. */
function issuersOf(view: WorkloadPolicy): IssuerWithTokens[] {
  return view.userTokens.map(({ jwks, ...rest }) =>
    jwks === undefined ? rest : { ...rest, jwks: parseJwks(jwks) },
  );
}

function parseJwks(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The compiler validates inline JWKS; a broken one yields no keys, so its tokens fail closed.
    return { keys: [] };
  }
}

/** Where a token may be, as findToken reads it: names and prefixes lowercased once per snapshot. */
type TokenLocation =
  | { kind: 'header'; name: string; prefix: string; lowerPrefix: string; asciiPrefix: boolean }
  | { kind: 'cookie'; cookie: string };

/** The locations of every issuer in order (the default when no issuer is configured). */
function tokenLocationsOf(issuers: readonly IssuerWithTokens[]): TokenLocation[] {
  const given = issuers.flatMap((issuer) => issuer.from ?? [DEFAULT_LOCATION]);
  if (given.length === 0) given.push(DEFAULT_LOCATION);
  const locations: TokenLocation[] = [];
  for (const location of given) {
    if (location.header) {
      const prefix = location.prefix ?? '';
      locations.push({
        kind: 'header',
        name: location.header.toLowerCase(),
        prefix,
        lowerPrefix: prefix.toLowerCase(),
        // eslint-disable-next-line no-control-regex
        asciiPrefix: /^[\x00-\x7f]*$/.test(prefix),
      });
    } else if (location.cookie) {
      locations.push({ kind: 'cookie', cookie: location.cookie });
    }
  }
  return locations;
}

/** Whether a header name is `lower` (already lowercase), in any case. */
function sameName(name: string, lower: string): boolean {
  return name.length === lower.length && (name === lower || name.toLowerCase() === lower);
}

/** Finds the end-user token: the first configured location that the request carries. */
function findToken(
  headers: HeaderList,
  locations: readonly TokenLocation[],
): { token?: string; header?: string; duplicate?: boolean } {
  for (const location of locations) {
    if (location.kind === 'header') {
      let value: string | undefined;
      for (let i = 0; i < headers.length; i++) {
        const header = headers[i]!;
        if (!sameName(header[0], location.name)) continue;
        if (value !== undefined) return { duplicate: true, header: location.name };
        value = header[1];
      }
      if (value === undefined) continue;
      const { prefix, lowerPrefix } = location;
      // An ASCII prefix found as it is written also starts the lowercased value: no copy needed.
      const exactPrefix = location.asciiPrefix && value.startsWith(prefix);
      if (prefix && !exactPrefix && !value.toLowerCase().startsWith(lowerPrefix)) continue;
      return { token: value.slice(prefix.length).trim(), header: location.name };
    }
    for (const [header, value] of headers) {
      if (!sameName(header, 'cookie')) continue;
      for (const part of value.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0 && part.slice(0, eq).trim() === location.cookie)
          return { token: part.slice(eq + 1).trim() };
      }
    }
  }
  return {};
}

function splitTarget(url: string): { path: string; query: string } {
  const hash = url.indexOf('#');
  const withoutFragment = hash < 0 ? url : url.slice(0, hash);
  const question = withoutFragment.indexOf('?');
  return question < 0
    ? { path: withoutFragment, query: '' }
    : { path: withoutFragment.slice(0, question), query: withoutFragment.slice(question) };
}

export interface InboundPipeline {
  decide(request: InboundRequest): Promise<InboundOutcome>;
}

/** What the pipeline derives from one policy snapshot, once: never per request. */
interface SnapshotState {
  issuers: IssuerWithTokens[];
  tokenLocations: TokenLocation[];
  /** Each issuer's claim-to-header mappings, by the issuer object the validator hands back. */
  claimHeaders: Map<IssuerWithTokens, ClaimHeader[]>;
  /** Made on first use, for this snapshot; JWKS caches outlive it (the caller's key-source pool). */
  validator?: JwtValidator<IssuerWithTokens>;
  headerPolicy: HeaderPolicy;
  /** By "requests/periodMs": a new snapshot starts counting afresh, bounded to its rules. */
  limiters: Map<string, RateLimiter>;
}

export function createInboundPipeline(options: InboundPipelineOptions): InboundPipeline {
  const clock = options.clock ?? systemClock;
  const states = new WeakMap<WorkloadPolicy, SnapshotState>();
  const stateOf = (view: WorkloadPolicy): SnapshotState => {
    let state = states.get(view);
    if (!state) {
      const issuers = issuersOf(view);
      const claimHeaders = new Map(
        issuers.map((issuer) => [
          issuer,
          (issuer.claimsToHeaders ?? []).map((m) => ({ claim: m.claim, header: m.header })),
        ]),
      );
      const headerPolicy = compileHeaderPolicy({
        claimHeaders: [...claimHeaders.values()].flatMap((mappings) => mappings.map((m) => m.header)),
      });
      state = {
        issuers,
        tokenLocations: tokenLocationsOf(issuers),
        claimHeaders,
        headerPolicy,
        limiters: new Map(),
      };
      states.set(view, state);
    }
    return state;
  };
  const limiterFor = (state: SnapshotState, requests: number, periodMs: number): RateLimiter => {
    const key = `${requests}/${periodMs}`;
    let limiter = state.limiters.get(key);
    if (!limiter) {
      limiter = createRateLimiter({ requests, perMs: periodMs }, { clock });
      state.limiters.set(key, limiter);
    }
    return limiter;
  };

  const blocks = options.blocks;
  const refuseBlocked = (
    block: { id: string; type: BlockKind },
    user?: string,
    token?: TokenFacts,
  ): InboundOutcome => ({
    kind: 'reject',
    status: 403,
    headers: {},
    message: 'forbidden',
    reason: 'BLOCKED',
    block: { id: block.id, type: block.type },
    ...(user !== undefined && { user }),
    ...(token && { token }),
  });

  return {
    async decide(request): Promise<InboundOutcome> {
      const view = options.policy();
      if (!view) {
        return {
          kind: 'reject',
          status: 503,
          headers: {},
          message: 'sidecar not ready',
          reason: 'NO_POLICY',
        };
      }

      // The peer is verified by the TLS layer: its block applies before anything else is read.
      const peerBlock = request.peer === undefined ? undefined : blocks?.match('principal', request.peer);
      if (peerBlock) return refuseBlocked(peerBlock);

      const { path: rawPath, query } = splitTarget(request.url);
      let path: NormalizedPath;
      try {
        path = options.normalizePath(rawPath);
      } catch (error) {
        if (!isLanyardError(error)) throw error;
        return {
          kind: 'reject',
          status: 400,
          headers: {},
          message: 'invalid request path',
          reason: error.code,
        };
      }

      const state = stateOf(view);
      const { issuers } = state;
      const found = findToken(request.headers, state.tokenLocations);
      if (found.duplicate) {
        return {
          kind: 'reject',
          status: 400,
          headers: { 'www-authenticate': invalidTokenChallenge('more than one token') },
          message: 'more than one token in the request',
          reason: 'DUPLICATE_TOKEN',
        };
      }
      let verified: VerifiedToken<IssuerWithTokens> | undefined;
      let token: TokenFacts | undefined;
      if (found.token !== undefined) {
        if (issuers.length === 0) {
          // No policy names an issuer: the token cannot be checked, so it grants nothing.
          verified = undefined;
        } else {
          try {
            state.validator ??= options.validatorFor(issuers);
            verified = await state.validator.verify(found.token);
          } catch (error) {
            if (!isLanyardError(error)) throw error;
            return {
              kind: 'reject',
              status: 401,
              headers: { 'www-authenticate': invalidTokenChallenge('the access token is not valid') },
              message: 'invalid user token',
              reason: error.code,
              token: { id: tokenId(found.token), failure: tokenFailureOf(error.code) },
            };
          }
        }
        // Only a verified token's jti names it; any other token is named by its digest.
        token = verified
          ? { id: tokenId(found.token, verified.claims.jti), issuer: verified.issuer.issuer }
          : { id: tokenId(found.token) };
      }
      const user = verified?.subject;
      if (verified && blocks) {
        const block =
          (user !== undefined ? blocks.match('user', user) : undefined) ?? blocks.match('token', token!.id);
        if (block) return refuseBlocked(block, user, token);
      }

      const decision = evaluate(view, {
        method: request.method,
        host: request.host,
        port: request.port,
        path,
        peer: request.peer,
        claims: verified?.claims,
      });

      if (decision.decision === 'DENY') {
        if (decision.stepUp) {
          return {
            kind: 'reject',
            status: 401,
            headers: {
              'www-authenticate': stepUpChallenge({
                acrValues: decision.stepUp.acrValues.length > 0 ? decision.stepUp.acrValues : ['mfa'],
                description: 'multi-factor authentication required',
              }),
            },
            message: 'multi-factor authentication required',
            decision,
            reason: decision.reason,
            user,
            token,
          };
        }
        return {
          kind: 'reject',
          status: 403,
          headers: {},
          message: 'forbidden',
          decision,
          reason: decision.reason,
          user,
          token,
          ...(decision.reason === 'NO_ALLOW_MATCH' &&
            found.token === undefined &&
            issuers.length > 0 && { tokenMissing: true }),
        };
      }

      if (decision.rateLimit) {
        const { bucket, requests, periodMs } = decision.rateLimit;
        const verdict = limiterFor(state, requests, periodMs).take(bucket);
        if (!verdict.allowed) {
          return {
            kind: 'reject',
            status: 429,
            headers: { 'retry-after': String(verdict.retryAfterSeconds) },
            message: 'rate limit exceeded',
            decision,
            reason: 'RATE_LIMITED',
            user,
            token,
          };
        }
      }

      let headers = request.headers;
      if (verified && verified.issuer.forward === false && found.header) {
        const dropped = found.header;
        headers = headers.filter(([name]) => name.toLowerCase() !== dropped);
      }
      const forwarded = forwardHeaders(
        headers,
        {
          peerId: request.peer,
          user: verified && {
            issuer: verified.issuer.issuer,
            subject: verified.subject,
            claims: verified.claims,
            claimHeaders: state.claimHeaders.get(verified.issuer),
          },
        },
        state.headerPolicy,
      );
      return {
        kind: 'forward',
        target: `${path}${query}`,
        headers: forwarded.headers,
        decision,
        user,
        token,
      };
    },
  };
}
