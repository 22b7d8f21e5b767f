// The sidecar's own HTTP/1.1 engine (ADR 0008): a strict codec, a server and a pooled client
// over raw node:net/node:tls sockets.
export { pipeBody, type BodySink, type BodyWriter, type IncomingBody } from './body.ts';
export { Http1Pool, UpstreamError, type UpstreamFailure, type UpstreamResponse } from './client.ts';
export {
  CHUNKED,
  CLOSE_DELIMITED,
  HTTP1_LIMITS,
  NO_BODY,
  type BodyFraming,
  type RequestHead,
  type ResponseHead,
} from './codec.ts';
export { Http1Error, HTTP1_ERRORS, type Http1ErrorCode } from './errors.ts';
export { createHttp1Server, type Http1Exchange, type Http1Server } from './server.ts';
