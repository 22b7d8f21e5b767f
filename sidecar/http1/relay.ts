// Relays an upstream answer to the downstream exchange: its 1xx answers, its head without
// hop-by-hop fields, and its body re-framed, with backpressure both ways.
import { HOP_BY_HOP_HEADERS, type HeaderList } from '../headers.ts';
import { pipeBody } from './body.ts';
import type { UpstreamResponse } from './client.ts';
import type { ResponseHead } from './codec.ts';
import type { Http1Exchange } from './server.ts';

/** The fields without those that describe one connection (and those Connection names, if asked). */
export function withoutHopByHop(headers: HeaderList, connectionTokens: readonly string[] = []): HeaderList {
  const kept: (readonly [string, string])[] = [];
  for (const field of headers) {
    const name = field[0].toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(name) || connectionTokens.includes(name)) continue;
    kept.push(field);
  }
  return kept;
}

/** 100 Continue and 103 Early Hints travel on; other 1xx answers end here. */
export function relayInformational(exchange: Http1Exchange, head: ResponseHead): void {
  if (head.status === 100 || head.status === 103) {
    exchange.informational(head.status, head.reason, withoutHopByHop(head.headers));
  }
}

/**
 * Writes the upstream response to the exchange. `onComplete` runs when the whole body has been
 * handed to the client's socket; a body that fails midway cuts the client connection off.
 */
export function relayResponse(
  exchange: Http1Exchange,
  response: UpstreamResponse,
  onComplete?: () => void,
): void {
  const { head, body } = response;
  const writer = exchange.writeHead(head.status, withoutHopByHop(head.headers), head.framing, head.reason);
  pipeBody(body, writer, { onEnd: onComplete, onAbort: () => exchange.destroy() });
}
