// Connects the inbound listener to the decision pipeline and the app: a request the pipeline
// allows goes to the app on localhost with the rewritten target and trusted headers; any
// other gets the pipeline's status. Every request ends in exactly one DecisionRecord.
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { fromRawHeaders, HOP_BY_HOP_HEADERS, type HeaderList } from './headers.ts';
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
  /** Bound on the app's answer. Default 60 s. */
  appTimeoutMs?: number;
  now?: () => number;
}

function toOutgoing(headers: HeaderList): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(name)) continue;
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
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
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const now = options.now ?? (() => performance.now());
  const appHost = options.appHost ?? '127.0.0.1';

  const handle = (req: IncomingMessage, res: ServerResponse, peer: PeerVerdict | undefined): void => {
    const started = now();
    const peerId = peer?.ok ? peer.id.toString() : undefined;
    const source = req.socket.remoteAddress;
    void options.pipeline
      .decide({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        host: hostOnly(req.headers.host),
        port: options.appPort,
        headers: fromRawHeaders(req.rawHeaders),
        peer: peerId,
      })
      .then((outcome) => {
        const record = (status: number, reason: string, path: string) =>
          options.onDecision(
            decisionRecord({
              peer: peerId,
              method: req.method ?? 'GET',
              outcome,
              status,
              reason,
              path,
              latencyMs: now() - started,
              source,
            }),
          );

        if (outcome.kind === 'reject') {
          req.resume();
          res.writeHead(outcome.status, { ...outcome.headers, 'content-type': 'text/plain; charset=utf-8' });
          res.end(`${outcome.message}\n`);
          record(outcome.status, outcome.reason, refusedPath(req.url));
          return;
        }
        const upstream = request({
          host: appHost,
          port: options.appPort,
          method: req.method,
          path: outcome.target,
          headers: toOutgoing(outcome.headers),
          agent,
          timeout: options.appTimeoutMs ?? 60_000,
        });
        upstream.setNoDelay(true); // no Nagle wait for the app's delayed ACK
        const path = outcome.target.split('?')[0]!;
        upstream.on('response', (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          record(answer.statusCode ?? 502, outcome.decision.reason, path);
        });
        upstream.on('timeout', () => upstream.destroy(new Error('app timed out')));
        upstream.on('error', () => {
          if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
            res.end('app unavailable\n');
            record(502, 'APP_UNAVAILABLE', path);
          } else {
            res.destroy();
          }
        });
        req.pipe(upstream);
      })
      .catch(() => {
        // The pipeline fails closed: an unexpected error is a 500, never a forwarded request.
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('internal error\n');
        }
        options.onDecision(
          internalErrorRecord(peerId, req.method ?? 'GET', req.url, now() - started, source),
        );
      });
  };

  return { handle, close: () => agent.destroy() };
}
