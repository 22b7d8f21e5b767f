// Connects the inbound listener to the decision pipeline and the app: a request the pipeline
// allows goes to the app on localhost with the rewritten target and trusted headers; any
// other gets the pipeline's status. Every request ends in exactly one DecisionRecord.
import { connect } from 'node:net';
import { Http1Pool, type Http1Exchange } from './http1/index.ts';
import { relayInformational, relayResponse, withoutHopByHop } from './http1/relay.ts';
import type { InboundOutcome, InboundPipeline } from './inbound.ts';
import type { PeerVerdict } from '../lib/peer.ts';
import type { BlockKind } from './block-set.ts';
import type { TokenFailureKind } from './token-facts.ts';

export interface DecisionRecord {
  peer: string | undefined;
  /** The verified user subject; never the token. */
  user: string | undefined;
  method: string;
  /** The normalized path (without query), or the raw one when it was refused. */
  path: string;
  status: number;
  decision: 'ALLOW' | 'DENY';
  reason: string;
  policy?: string;
  rule?: string;
  dryRun?: { decision: string; policy?: string; rule?: string };
  latencyMs: number;
  /** The caller's address as the sidecar's socket saw it (mTLS and plaintext alike). */
  source?: string;
  /** The end-user token's id (token-facts.ts tokenId()): never the token. */
  tokenId?: string;
  /** The token's issuer, when it verified. */
  issuer?: string;
  /** Why the token was refused, when it was. */
  tokenFailure?: TokenFailureKind;
  /** The block that refused the request (reason BLOCKED). */
  block?: { id: string; type: BlockKind };
}

export interface AppForwarderOptions {
  pipeline: InboundPipeline;
  appPort: number;
  appHost?: string;
  onDecision: (record: DecisionRecord) => void;
  /** Bound on the app's silence during an exchange (504 before its answer). Default 60 s. */
  appTimeoutMs?: number;
  /** Connections kept to the app. Default 256. */
  maxAppConnections?: number;
  now?: () => number;
}

/** A Host or :authority value as the pipeline matches it: lowercase, no port, no final dot. */
export function hostOnly(value: string | undefined): string {
  return (value ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
}

/** The path to record for a refused request: the raw target without its query, bounded. */
export function refusedPath(url: string | undefined): string {
  return (url ?? '').split('?')[0]!.slice(0, 256);
}

/** The record of one request that the pipeline decided: who, what, which policy and rule, how long. */
export function decisionRecord(fields: {
  peer: string | undefined;
  method: string;
  outcome: InboundOutcome;
  status: number;
  reason: string;
  path: string;
  latencyMs: number;
  source: string | undefined;
}): DecisionRecord {
  const { outcome } = fields;
  const decision = outcome.decision;
  const token = outcome.token;
  return {
    peer: fields.peer,
    user: outcome.user,
    method: fields.method,
    path: fields.path,
    status: fields.status,
    decision: outcome.kind === 'forward' ? 'ALLOW' : 'DENY',
    reason: fields.reason,
    policy: decision?.decidedBy
      ? `${decision.decidedBy.policy.namespace}/${decision.decidedBy.policy.name}`
      : undefined,
    rule: decision?.decidedBy?.rule,
    dryRun: decision?.dryRun && {
      decision: decision.dryRun.decision,
      policy: decision.dryRun.decidedBy?.policy.name,
      rule: decision.dryRun.decidedBy?.rule,
    },
    latencyMs: fields.latencyMs,
    ...(fields.source !== undefined && { source: fields.source }),
    ...(token && {
      tokenId: token.id,
      ...(token.issuer !== undefined && { issuer: token.issuer }),
      ...(token.failure !== undefined && { tokenFailure: token.failure }),
    }),
    ...(outcome.kind === 'reject' && outcome.block && { block: { ...outcome.block } }),
  };
}

/** The record of a request the pipeline failed on: it fails closed, so this is a refusal. */
export function internalErrorRecord(
  peer: string | undefined,
  method: string,
  url: string | undefined,
  latencyMs: number,
  source?: string,
): DecisionRecord {
  return {
    peer,
    user: undefined,
    method,
    path: refusedPath(url),
    status: 500,
    decision: 'DENY',
    reason: 'INTERNAL_ERROR',
    latencyMs,
    ...(source !== undefined && { source }),
  };
}

export function createAppForwarder(options: AppForwarderOptions) {
  const now = options.now ?? (() => performance.now());
  const appHost = options.appHost ?? '127.0.0.1';
  const pool = new Http1Pool({
    connect: (onread) => connect({ host: appHost, port: options.appPort, noDelay: true, onread }),
    maxConnections: options.maxAppConnections ?? 256,
    exchangeTimeoutMs: options.appTimeoutMs ?? 60_000,
    // Below the keep-alive timeout of most app servers (Node's is 5 s): the sidecar lets an
    // idle connection go before the app closes it under a request.
    idleTimeoutMs: 4_000,
  });

  const handle = (exchange: Http1Exchange, peer: PeerVerdict | undefined): void => {
    const started = now();
    const { request } = exchange;
    const peerId = peer?.ok ? peer.id.toString() : undefined;
    const source = exchange.socket.remoteAddress;
    void options.pipeline
      .decide({
        method: request.method,
        url: request.target,
        host: hostOnly(request.host),
        port: options.appPort,
        headers: request.headers,
        peer: peerId,
      })
      .then((outcome) => {
        const record = (status: number, reason: string, path: string) =>
          options.onDecision(
            decisionRecord({
              peer: peerId,
              method: request.method,
              outcome,
              status,
              reason,
              path,
              latencyMs: now() - started,
              source,
            }),
          );

        if (outcome.kind === 'reject') {
          exchange.respond(outcome.status, Object.entries(outcome.headers), `${outcome.message}\n`);
          record(outcome.status, outcome.reason, refusedPath(request.target));
          return;
        }
        const path = outcome.target.split('?')[0]!;
        const headers = withoutHopByHop(outcome.headers);
        const upstream = pool.request(
          {
            method: request.method,
            target: outcome.target,
            // An HTTP/1.0 client may send no Host; the app gets one either way.
            headers:
              request.host === undefined ? [...headers, ['host', `${appHost}:${options.appPort}`]] : headers,
            body: request.framing.kind === 'none' ? undefined : exchange.body,
          },
          {
            informational: (head) => relayInformational(exchange, head),
            response: (response) => {
              relayResponse(exchange, response);
              record(response.head.status, outcome.decision.reason, path);
            },
            error: (error) => {
              if (exchange.headSent) return exchange.destroy();
              const timedOut = error.failure === 'timeout';
              exchange.respond(timedOut ? 504 : 502, [], timedOut ? 'app timed out\n' : 'app unavailable\n');
              record(timedOut ? 504 : 502, timedOut ? 'APP_TIMEOUT' : 'APP_UNAVAILABLE', path);
            },
          },
        );
        exchange.onAbort(() => upstream.abort());
      })
      .catch(() => {
        // The pipeline fails closed: an unexpected error is a 500, never a forwarded request.
        if (!exchange.headSent) exchange.respond(500, [], 'internal error\n');
        else exchange.destroy();
        options.onDecision(
          internalErrorRecord(peerId, request.method, request.target, now() - started, source),
        );
      });
  };

  return { handle, close: () => pool.close() };
}
