// The HTTP/2 form of app-forwarder.ts: each inbound stream goes through the same decision
// pipeline (inbound.ts) as an HTTP/1.1 request; an allowed stream is relayed to the app over
// h2c (HTTP/2 with prior knowledge) on one pooled localhost session, a refused one is answered
// here (a gRPC call as a gRPC status). Every stream ends in exactly one DecisionRecord.
import {
  connect,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { PeerVerdict } from '../lib/peer.ts';
import {
  decisionRecord,
  hostOnly,
  internalErrorRecord,
  refusedPath,
  type DecisionRecord,
} from './app-forwarder.ts';
import { fromRawHeaders } from './headers.ts';
import { grpcRefusal, isGrpc } from './http2-grpc.ts';
import { relayStream, toHttp2Fields } from './http2-relay.ts';
import type { InboundPipeline } from './inbound.ts';

export interface Http2ForwarderOptions {
  pipeline: InboundPipeline;
  appPort: number;
  appHost?: string;
  onDecision: (record: DecisionRecord) => void;
  /** Bound on connecting to the app. Default 10 s. */
  appConnectTimeoutMs?: number;
  now?: () => number;
}

export interface Http2Forwarder {
  handleStream: (
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    rawHeaders: readonly string[],
    peer: PeerVerdict | undefined,
  ) => void;
  close(): void;
}

/** Answers a stream the sidecar refuses: a gRPC status for gRPC, an HTTP status otherwise. */
export function refuseStream(
  stream: ServerHttp2Stream,
  grpc: boolean,
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
  tokenMissing = false,
): void {
  if (stream.closed || stream.destroyed || stream.headersSent) return;
  if (grpc) {
    stream.respond(grpcRefusal(status, message, headers, tokenMissing), { endStream: true });
    return;
  }
  stream.respond({ ...headers, ':status': status, 'content-type': 'text/plain; charset=utf-8' });
  stream.end(`${message}\n`);
}

export function createHttp2Forwarder(options: Http2ForwarderOptions): Http2Forwarder {
  const now = options.now ?? (() => performance.now());
  const origin = `http://${options.appHost ?? '127.0.0.1'}:${options.appPort}`;
  const connectTimeoutMs = options.appConnectTimeoutMs ?? 10_000;
  let app: ClientHttp2Session | undefined;

  // One session carries every stream to the app; a new one replaces it once it closes or the
  // app sends GOAWAY.
  const appSession = (): ClientHttp2Session => {
    if (app && !app.closed && !app.destroyed) return app;
    const session = connect(origin);
    const forget = () => {
      if (app === session) app = undefined;
    };
    const connecting = setTimeout(
      () => session.destroy(new Error('app connect timed out')),
      connectTimeoutMs,
    );
    connecting.unref();
    session.once('connect', () => clearTimeout(connecting));
    session.on('error', forget); // each stream on it fails and answers for itself
    session.once('goaway', forget);
    session.once('close', () => {
      clearTimeout(connecting);
      forget();
    });
    session.unref();
    app = session;
    return session;
  };

  const handleStream: Http2Forwarder['handleStream'] = (stream, headers, rawHeaders, peer) => {
    const started = now();
    const peerId = peer?.ok ? peer.id.toString() : undefined;
    const source = stream.session?.socket?.remoteAddress;
    const method = headers[':method'] ?? 'GET';
    const url = headers[':path'];
    const grpc = isGrpc(headers['content-type']);
    stream.on('error', () => undefined); // a reset by the client surfaces as 'close'

    const authority = headers[':authority'] ?? headers.host;
    // CONNECT has no :path; two names for the host would let policy and app see different ones.
    if (
      url === undefined ||
      (headers[':authority'] && headers.host && headers.host !== headers[':authority'])
    ) {
      refuseStream(stream, grpc, 400, 'malformed request');
      options.onDecision({
        peer: peerId,
        user: undefined,
        method,
        path: refusedPath(url),
        status: 400,
        decision: 'DENY',
        reason: 'MALFORMED_REQUEST',
        latencyMs: now() - started,
        ...(source !== undefined && { source }),
      });
      return;
    }

    void options.pipeline
      .decide({
        method,
        url,
        host: hostOnly(authority),
        port: options.appPort,
        headers: fromRawHeaders(rawHeaders).filter(([name]) => !name.startsWith(':')),
        peer: peerId,
      })
      .then((outcome) => {
        const record = (status: number, reason: string, path: string) =>
          options.onDecision(
            decisionRecord({
              peer: peerId,
              method,
              outcome,
              status,
              reason,
              path,
              latencyMs: now() - started,
              source,
            }),
          );
        if (outcome.kind === 'reject') {
          refuseStream(stream, grpc, outcome.status, outcome.message, outcome.headers, outcome.tokenMissing);
          record(outcome.status, outcome.reason, refusedPath(url));
          return;
        }
        const path = outcome.target.split('?')[0]!;
        if (stream.closed || stream.destroyed) {
          record(499, 'CLIENT_CLOSED', path);
          return;
        }
        const fields: OutgoingHttpHeaders = {
          ...toHttp2Fields(outcome.headers),
          ':method': method,
          ':path': outcome.target,
          ':scheme': 'http',
          ...(authority === undefined ? {} : { ':authority': authority }),
        };
        let upstream;
        try {
          upstream = appSession().request(fields);
        } catch {
          // Node refuses fields HTTP/2 forbids, such as two values for a single-value header.
          refuseStream(stream, grpc, 400, 'malformed request headers');
          record(400, 'MALFORMED_REQUEST', path);
          return;
        }
        relayStream(stream, upstream, {
          onResponse: (status) => record(status, outcome.decision.reason, path),
          onFailure: (_reason, clientGone) => {
            if (clientGone) return record(499, 'CLIENT_CLOSED', path);
            refuseStream(stream, grpc, 502, 'app unavailable');
            record(502, 'APP_UNAVAILABLE', path);
          },
        });
      })
      .catch(() => {
        // The pipeline fails closed: an unexpected error is a refusal, never a forwarded stream.
        refuseStream(stream, grpc, 500, 'internal error');
        options.onDecision(internalErrorRecord(peerId, method, url, now() - started, source));
      });
  };

  return {
    handleStream,
    close: () => app?.close(),
  };
}
