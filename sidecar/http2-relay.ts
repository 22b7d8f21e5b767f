// One HTTP/2 stream relayed to another: the request body one way and the response the other,
// both piped (so HTTP/2 flow control reaches from the receiver back to the sender and no body
// is ever held whole), response trailers forwarded (gRPC's status lives there), and a reset on
// either side carried to the other with its error code.
import {
  constants,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { HOP_BY_HOP_HEADERS, type HeaderList } from './headers.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = constants;

/** Pseudo-headers are rebuilt by each hop; `host` would contradict `:authority`. */
function dropped(name: string): boolean {
  return name.startsWith(':') || name === 'host' || HOP_BY_HOP_HEADERS.has(name);
}

/**
 * Request fields for the next HTTP/2 hop: pseudo-headers, `host` and connection-specific
 * fields dropped (RFC 9113 §8.2.2), except `te: trailers`, which gRPC servers require.
 */
export function toHttp2Fields(list: HeaderList): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [rawName, value] of list) {
    const name = rawName.toLowerCase();
    if (name === 'te') {
      if (value.trim().toLowerCase() === 'trailers') out.te = 'trailers';
      continue;
    }
    if (dropped(name)) continue;
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

/** Response headers or trailers from the previous hop, without connection-specific fields. */
function responseFields(headers: IncomingHttpHeaders, keepStatus: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (name === ':status' ? !keepStatus : dropped(name)) continue;
    out[name] = value;
  }
  return out;
}

export interface RelayHooks {
  /** The response headers went downstream. */
  onResponse?(status: number): void;
  /**
   * The upstream stream ended before any response went downstream (connection refused, TLS or
   * identity failure, a reset), or `clientGone`: downstream closed first. The caller answers
   * downstream itself.
   */
  onFailure(reason: string, clientGone: boolean): void;
}

/** True while a stream can still be written to or reset. */
function live(stream: ServerHttp2Stream | ClientHttp2Stream): boolean {
  return !stream.closed && !stream.destroyed;
}

/** Relays `downstream` (a request received) to `upstream` (the same request sent on) and back. */
export function relayStream(downstream: ServerHttp2Stream, upstream: ClientHttp2Stream, hooks: RelayHooks) {
  let responded = false;
  let failure = 'upstream closed the stream';
  let trailers: OutgoingHttpHeaders = {};

  downstream.pipe(upstream);
  upstream.on('response', (headers, flags) => {
    if (!live(downstream)) return;
    responded = true;
    const status = Number(headers[':status'] ?? 502);
    // A response that ends in its HEADERS frame is "trailers-only" for gRPC: it must stay one
    // frame, or the client would take grpc-status for initial metadata and wait for trailers.
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      downstream.respond(responseFields(headers, true), { endStream: true });
    } else {
      downstream.respond(responseFields(headers, true), { waitForTrailers: true });
      upstream.pipe(downstream);
    }
    hooks.onResponse?.(status);
  });
  upstream.on('trailers', (headers: IncomingHttpHeaders) => (trailers = responseFields(headers, false)));
  // A reset must not end the response first: with trailers still owed, close(code) sends
  // RST_STREAM with the code instead of a clean END_STREAM that would hide a truncated body.
  let resetting = false;
  downstream.on('wantTrailers', () => {
    if (!resetting) downstream.sendTrailers(trailers);
  });

  // Errors surface through 'close' and its rstCode; without listeners they would be thrown.
  upstream.on('error', (error: Error) => (failure = `upstream failed: ${error.message}`));
  downstream.on('error', () => undefined);

  downstream.once('close', () => {
    // The client reset the stream (a gRPC cancel is CANCEL), or its connection went: the app
    // must hear of it. A stream that ended normally leaves the other to finish on its own.
    const code = downstream.rstCode ?? NGHTTP2_CANCEL;
    if (code !== NGHTTP2_NO_ERROR && live(upstream)) upstream.close(code);
  });
  upstream.once('close', () => {
    if (!responded) return hooks.onFailure(failure, !live(downstream));
    if (!live(downstream)) return;
    const code = upstream.rstCode ?? NGHTTP2_NO_ERROR;
    if (code !== NGHTTP2_NO_ERROR) {
      resetting = true;
      downstream.close(code);
    }
  });
}
