import { LanyardError } from '../../lib/errors.ts';

/**
 * Why the HTTP/1.1 engine refused a message. Each code answers a request with one fixed status
 * (a response from upstream that breaks the same rule is a 502 instead); the message is safe to
 * return to the caller.
 */
export const HTTP1_ERRORS = Object.freeze({
  ERR_HTTP1_LINE_ENDING: 'A line ends in a bare CR or LF instead of CRLF.',
  ERR_HTTP1_OBS_FOLD: 'A header line starts with a space or tab (obsolete line folding).',
  ERR_HTTP1_REQUEST_LINE:
    'The request line is not a method token, a target and a version separated by single spaces.',
  ERR_HTTP1_METHOD: 'The method is a token that the engine does not know (Node http.METHODS).',
  ERR_HTTP1_TARGET:
    'The request target holds whitespace, a control, a non-ASCII byte or a fragment, or is not in origin form (or `*` for OPTIONS).',
  ERR_HTTP1_CONNECT: 'CONNECT (tunnelling) is not supported.',
  ERR_HTTP1_VERSION: 'The HTTP version is neither HTTP/1.1 nor HTTP/1.0.',
  ERR_HTTP1_URI_TOO_LONG: 'The request line is longer than the limit.',
  ERR_HTTP1_HEAD_TOO_LARGE: 'The header section is larger than the limit or has more fields than the limit.',
  ERR_HTTP1_FIELD_NAME: 'A field name is not an RFC 9110 token, or whitespace precedes its colon.',
  ERR_HTTP1_FIELD_VALUE: 'A field value holds CR, LF, NUL or another control character.',
  ERR_HTTP1_HOST: 'An HTTP/1.1 request has no Host, several, or one with characters a host cannot hold.',
  ERR_HTTP1_CONTENT_LENGTH: 'Content-Length is not a single bounded decimal number.',
  ERR_HTTP1_TRANSFER_ENCODING:
    'Transfer-Encoding is a list, repeated, sent with HTTP/1.0, or sent together with Content-Length.',
  ERR_HTTP1_CODING_UNSUPPORTED: 'Transfer-Encoding names a coding other than chunked.',
  ERR_HTTP1_EXPECTATION: 'Expect holds anything other than 100-continue.',
  ERR_HTTP1_CHUNK_SIZE: 'A chunk size is not hexadecimal or has too many digits.',
  ERR_HTTP1_CHUNK_EXTENSION: 'A chunk extension is longer than the limit or holds a control character.',
  ERR_HTTP1_CHUNK_FRAMING: 'A chunk is not followed by CRLF.',
  ERR_HTTP1_TRAILER:
    'The trailer section is too large or holds a malformed field or one that may not be a trailer (framing, routing, credentials, identity).',
  ERR_HTTP1_STATUS_LINE: 'A response status line is malformed or its status is outside 100-599.',
  ERR_HTTP1_TRUNCATED: 'The connection closed before the message was complete.',
});

export type Http1ErrorCode = keyof typeof HTTP1_ERRORS;

/** The status that answers a request refused with each code. */
const STATUS: Readonly<Record<Http1ErrorCode, number>> = {
  ERR_HTTP1_LINE_ENDING: 400,
  ERR_HTTP1_OBS_FOLD: 400,
  ERR_HTTP1_REQUEST_LINE: 400,
  ERR_HTTP1_METHOD: 501,
  ERR_HTTP1_TARGET: 400,
  ERR_HTTP1_CONNECT: 501,
  ERR_HTTP1_VERSION: 505,
  ERR_HTTP1_URI_TOO_LONG: 414,
  ERR_HTTP1_HEAD_TOO_LARGE: 431,
  ERR_HTTP1_FIELD_NAME: 400,
  ERR_HTTP1_FIELD_VALUE: 400,
  ERR_HTTP1_HOST: 400,
  ERR_HTTP1_CONTENT_LENGTH: 400,
  ERR_HTTP1_TRANSFER_ENCODING: 400,
  ERR_HTTP1_CODING_UNSUPPORTED: 501,
  ERR_HTTP1_EXPECTATION: 417,
  ERR_HTTP1_CHUNK_SIZE: 400,
  ERR_HTTP1_CHUNK_EXTENSION: 400,
  ERR_HTTP1_CHUNK_FRAMING: 400,
  ERR_HTTP1_TRAILER: 400,
  ERR_HTTP1_STATUS_LINE: 502,
  ERR_HTTP1_TRUNCATED: 400,
};

export class Http1Error extends LanyardError<Http1ErrorCode> {
  override name = 'Http1Error';
  /** The status that answers a request refused for this reason. */
  readonly status: number;

  constructor(code: Http1ErrorCode) {
    super(code, HTTP1_ERRORS[code]);
    this.status = STATUS[code];
  }
}
