import { describe, expect, it } from 'vitest';
import {
  ChunkedDecoder,
  findHeadEnd,
  HTTP1_LIMITS,
  lastChunk,
  parseRequestHead,
  parseResponseHead,
  serializeRequestHead,
  serializeResponseHead,
  type RequestHead,
} from './codec.ts';
import { Http1Error } from './errors.ts';

/** Runs the connection's two steps (find the head, parse it) on raw text. */
function request(text: string): RequestHead {
  const bytes = Buffer.from(text, 'latin1');
  const end = findHeadEnd(bytes, 0, true);
  if (end === -1) throw new Error('incomplete head');
  return parseRequestHead(bytes.toString('latin1', 0, end - 4));
}

function refusal(text: string): { code: string; status: number } {
  try {
    request(text);
  } catch (error) {
    if (error instanceof Http1Error) return { code: error.code, status: error.status };
    throw error;
  }
  throw new Error('accepted');
}

function chunked(text: string): { body: string; trailers: [string, string][]; end: number } {
  const decoder = new ChunkedDecoder();
  let body = '';
  const end = decoder.decode(Buffer.from(text, 'latin1'), 0, (chunk) => (body += chunk.toString('latin1')));
  if (!decoder.done) throw new Error('incomplete body');
  return { body, trailers: decoder.trailers, end };
}

function chunkedRefusal(text: string): string {
  try {
    chunked(text);
  } catch (error) {
    if (error instanceof Http1Error) return error.code;
    throw error;
  }
  throw new Error('accepted');
}

const get = (headers: string, line = 'GET /a?b=c HTTP/1.1') => `${line}\r\nHost: orders\r\n${headers}\r\n`;

describe('request head parser: accepts', () => {
  it('parses a plain GET with its headers in order and values trimmed', () => {
    const head = request(get('Accept:  text/plain \t\r\nX-A: 1\r\nx-a: 2\r\n'));
    expect(head).toMatchObject({ method: 'GET', target: '/a?b=c', version: '1.1', host: 'orders' });
    expect(head.headers).toEqual([
      ['Host', 'orders'],
      ['Accept', 'text/plain'],
      ['X-A', '1'],
      ['x-a', '2'],
    ]);
    expect(head.framing).toEqual({ kind: 'none' });
    expect(head.keepAlive).toBe(true);
  });

  it('reads Content-Length framing, and a zero length as no body', () => {
    expect(request(get('Content-Length: 12\r\n', 'POST / HTTP/1.1')).framing).toEqual({
      kind: 'length',
      length: 12,
    });
    expect(request(get('Content-Length: 0\r\n', 'POST / HTTP/1.1')).framing).toEqual({ kind: 'none' });
  });

  it('reads Transfer-Encoding: chunked in any case', () => {
    expect(request(get('Transfer-Encoding: Chunked\r\n', 'POST / HTTP/1.1')).framing).toEqual({
      kind: 'chunked',
    });
  });

  it('accepts OPTIONS * and obs-text in a value', () => {
    expect(request(get('', 'OPTIONS * HTTP/1.1')).target).toBe('*');
    expect(request(get('X-Name: caf\xe9\r\n')).headers[1]).toEqual(['X-Name', 'caf\xe9']);
  });

  it('keeps an HTTP/1.1 connection open unless Connection: close', () => {
    expect(request(get('Connection: keep-alive, Close\r\n')).keepAlive).toBe(false);
    expect(request(get('Connection: x-private\r\n')).connectionTokens).toEqual(['x-private']);
  });

  it('HTTP/1.0 without keep-alive closes; with keep-alive stays open; Host is optional', () => {
    const plain = request('GET / HTTP/1.0\r\n\r\n');
    expect(plain).toMatchObject({ version: '1.0', keepAlive: false, host: undefined });
    expect(request('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').keepAlive).toBe(true);
  });

  it('reads Expect: 100-continue for HTTP/1.1 and ignores it from HTTP/1.0', () => {
    expect(request(get('Expect: 100-Continue\r\n', 'PUT / HTTP/1.1')).expectContinue).toBe(true);
    expect(request('PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n').expectContinue).toBe(false);
  });

  it('finds the end of one head among pipelined requests and waits for an incomplete one', () => {
    const two = Buffer.from('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    const end = findHeadEnd(two, 0, true);
    expect(two.toString('latin1', end)).toBe('GET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'), 0, true)).toBe(-1);
  });
});

describe('request head parser: refuses (smuggling and malformed heads)', () => {
  const cases: [string, string, string, number][] = [
    [
      'CL+TE together',
      get('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_TRANSFER_ENCODING',
      400,
    ],
    [
      'TE: chunked with a second coding',
      get('Transfer-Encoding: gzip, chunked\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_TRANSFER_ENCODING',
      400,
    ],
    [
      'TE: chunked then another',
      get('Transfer-Encoding: chunked, identity\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_TRANSFER_ENCODING',
      400,
    ],
    [
      'two Transfer-Encoding fields',
      get('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_TRANSFER_ENCODING',
      400,
    ],
    [
      'a coding other than chunked',
      get('Transfer-Encoding: gzip\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CODING_UNSUPPORTED',
      501,
    ],
    [
      'TE with HTTP/1.0',
      'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
      'ERR_HTTP1_TRANSFER_ENCODING',
      400,
    ],
    [
      'TE: xchunked',
      get('Transfer-Encoding: xchunked\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CODING_UNSUPPORTED',
      501,
    ],
    [
      'duplicate Content-Length, different',
      get('Content-Length: 1\r\nContent-Length: 5\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    [
      'duplicate Content-Length, equal',
      get('Content-Length: 5\r\nContent-Length: 5\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length list',
      get('Content-Length: 5, 5\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length with a sign',
      get('Content-Length: +5\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length negative',
      get('Content-Length: -1\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length with an inner space',
      get('Content-Length: 1 2\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length in hex',
      get('Content-Length: 0x10\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length beyond the bound',
      get('Content-Length: 1234567890123456\r\n', 'POST / HTTP/1.1'),
      'ERR_HTTP1_CONTENT_LENGTH',
      400,
    ],
    ['obs-fold', get('X-A: 1\r\n folded\r\n'), 'ERR_HTTP1_OBS_FOLD', 400],
    ['obs-fold with a tab', get('X-A: 1\r\n\tfolded\r\n'), 'ERR_HTTP1_OBS_FOLD', 400],
    ['bare LF ending a line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'ERR_HTTP1_LINE_ENDING', 400],
    ['bare LF inside a value', get('X-A: 1\n2\r\n'), 'ERR_HTTP1_LINE_ENDING', 400],
    ['bare LF head end', 'GET / HTTP/1.1\r\nHost: a\n\n', 'ERR_HTTP1_LINE_ENDING', 400],
    ['bare CR inside a value', get('X-A: 1\r2\r\n'), 'ERR_HTTP1_LINE_ENDING', 400],
    ['NUL in a value', get('X-A: a\0b\r\n'), 'ERR_HTTP1_FIELD_VALUE', 400],
    ['another control in a value', get('X-A: a\x01b\r\n'), 'ERR_HTTP1_FIELD_VALUE', 400],
    ['DEL in a value', get('X-A: a\x7fb\r\n'), 'ERR_HTTP1_FIELD_VALUE', 400],
    ['space before the colon', get('Content-Length : 5\r\n', 'POST / HTTP/1.1'), 'ERR_HTTP1_FIELD_NAME', 400],
    ['tab before the colon', get('X-A\t: 5\r\n'), 'ERR_HTTP1_FIELD_NAME', 400],
    ['a name that is not a token', get('X(A): 5\r\n'), 'ERR_HTTP1_FIELD_NAME', 400],
    ['a line without a colon', get('X-A\r\n'), 'ERR_HTTP1_FIELD_NAME', 400],
    ['an empty name', get(': 5\r\n'), 'ERR_HTTP1_FIELD_NAME', 400],
    ['a method that is not a token', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_REQUEST_LINE', 400],
    ['a method nobody knows', 'FROB / HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_METHOD', 501],
    ['a lowercase method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_METHOD', 501],
    ['two spaces in the request line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_TARGET', 400],
    ['a tab in the target', 'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_TARGET', 400],
    ['non-ASCII in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_TARGET', 400],
    ['a fragment in the target', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_TARGET', 400],
    ['absolute-form', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_TARGET', 400],
    ['* with GET', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_TARGET', 400],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 'ERR_HTTP1_CONNECT', 501],
    ['HTTP/2.0 in a request line', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 'ERR_HTTP1_VERSION', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 'ERR_HTTP1_VERSION', 505],
    ['lowercase http', 'GET / http/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_REQUEST_LINE', 400],
    ['a missing version (HTTP/0.9)', 'GET /\r\nHost: a\r\n\r\n', 'ERR_HTTP1_REQUEST_LINE', 400],
    ['an empty request line', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP1_REQUEST_LINE', 400],
    ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 'ERR_HTTP1_HOST', 400],
    ['two Host fields', get('Host: other\r\n'), 'ERR_HTTP1_HOST', 400],
    ['a Host with a slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 'ERR_HTTP1_HOST', 400],
    ['a Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n', 'ERR_HTTP1_HOST', 400],
    ['an Expect other than 100-continue', get('Expect: 200-ok\r\n'), 'ERR_HTTP1_EXPECTATION', 417],
    [
      'a request line beyond the bound',
      `GET /${'a'.repeat(HTTP1_LIMITS.requestLine)} HTTP/1.1\r\nHost: a\r\n\r\n`,
      'ERR_HTTP1_URI_TOO_LONG',
      414,
    ],
    [
      'a head beyond 32 KiB',
      get(`X-Big: ${'a'.repeat(HTTP1_LIMITS.headBytes)}\r\n`),
      'ERR_HTTP1_HEAD_TOO_LARGE',
      431,
    ],
    ['more than 128 fields', get('X-A: 1\r\n'.repeat(HTTP1_LIMITS.fields)), 'ERR_HTTP1_HEAD_TOO_LARGE', 431],
  ];
  it.each(cases)('refuses %s', (_name, text, code, status) => {
    expect(refusal(text)).toEqual({ code, status });
  });

  it('refuses a bare LF before the head is complete (no waiting for a CRLF that never comes)', () => {
    expect(() => findHeadEnd(Buffer.from('GET / HTTP/1.1\nHost'), 0, true)).toThrow(Http1Error);
  });

  it('refuses an over-long request line before it is complete', () => {
    expect(() => findHeadEnd(Buffer.from(`GET /${'a'.repeat(HTTP1_LIMITS.requestLine)}`), 0, true)).toThrow(
      /longer than the limit/,
    );
  });
});

describe('response head parser', () => {
  const response = (text: string, method = 'GET') => parseResponseHead(text, method);

  it('reads status, reason and Content-Length framing', () => {
    const head = response('HTTP/1.1 201 Created\r\nContent-Length: 3\r\nX-A: b');
    expect(head).toMatchObject({
      status: 201,
      reason: 'Created',
      framing: { kind: 'length', length: 3 },
      keepAlive: true,
    });
  });

  it('reads chunked framing, and close-delimited when neither length nor chunking is given', () => {
    expect(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked').framing).toEqual({ kind: 'chunked' });
    const closing = response('HTTP/1.1 200 OK\r\nX-A: b');
    expect(closing.framing).toEqual({ kind: 'close' });
    expect(closing.keepAlive).toBe(false);
  });

  it('gives HEAD, 204, 304 and 1xx answers no body, keeping the length a HEAD or 304 declares', () => {
    expect(response('HTTP/1.1 200 OK\r\nContent-Length: 10', 'HEAD').framing).toEqual({
      kind: 'none',
      declaredLength: 10,
    });
    expect(response('HTTP/1.1 304 Not Modified\r\nContent-Length: 10').framing).toEqual({
      kind: 'none',
      declaredLength: 10,
    });
    expect(response('HTTP/1.1 204 No Content').framing).toEqual({ kind: 'none' });
    expect(response('HTTP/1.1 100 Continue').framing).toEqual({ kind: 'none' });
  });

  it('accepts a status line without a reason, and HTTP/1.0 closes unless keep-alive', () => {
    expect(response('HTTP/1.1 200').reason).toBe('');
    expect(response('HTTP/1.0 200 OK\r\nContent-Length: 0').keepAlive).toBe(false);
    expect(response('HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive').keepAlive).toBe(true);
  });

  it.each([
    ['a malformed status line', 'HTTP/1.1 20 OK', 'ERR_HTTP1_STATUS_LINE'],
    ['a status beyond 599', 'HTTP/1.1 600 X', 'ERR_HTTP1_STATUS_LINE'],
    ['HTTP/2 in a status line', 'HTTP/2 200 OK', 'ERR_HTTP1_STATUS_LINE'],
    [
      'CL and TE together',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked',
      'ERR_HTTP1_TRANSFER_ENCODING',
    ],
    [
      'duplicate Content-Length',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3',
      'ERR_HTTP1_CONTENT_LENGTH',
    ],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2', 'ERR_HTTP1_OBS_FOLD'],
  ])('refuses %s', (_name, text, code) => {
    expect(() => response(text)).toThrow(expect.objectContaining({ code }));
  });
});

describe('chunked decoder', () => {
  it('decodes chunks, drops extensions, keeps valid trailers, and stops at the end of the body', () => {
    const { body, trailers, end } = chunked(
      '5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\nNEXT',
    );
    expect(body).toBe('hello world');
    expect(trailers).toEqual([['X-Checksum', 'abc']]);
    expect(end).toBe('5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n'.length);
  });

  it('decodes a body split at every byte', () => {
    const text = 'A\r\n0123456789\r\n0\r\n\r\n';
    const decoder = new ChunkedDecoder();
    let body = '';
    for (const byte of Buffer.from(text))
      decoder.decode(Buffer.from([byte]), 0, (chunk) => (body += chunk.toString()));
    expect(decoder.done).toBe(true);
    expect(body).toBe('0123456789');
  });

  it.each([
    ['a chunk size overflow (too many digits)', 'fffffffff\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    ['leading zeros beyond the digit bound', '000000001\r\na\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    ['a chunk size that is not hex', 'g\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    ['a 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    ['a sign', '+5\r\nhello\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    ['a space after the size', '5 \r\nhello\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    ['an empty size', '\r\nhello\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    [
      'an oversized chunk extension',
      `5;${'a'.repeat(HTTP1_LIMITS.chunkExtension + 1)}\r\nhello\r\n0\r\n\r\n`,
      'ERR_HTTP1_CHUNK_EXTENSION',
    ],
    ['a control in a chunk extension', '5;a\0b\r\nhello\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_EXTENSION'],
    ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_SIZE'],
    ['a bare CR after the size', '5\rhello\r\n0\r\n\r\n', 'ERR_HTTP1_LINE_ENDING'],
    ['data longer than its size', '5\r\nhello!\r\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_FRAMING'],
    ['a bare LF after the data', '5\r\nhello\n0\r\n\r\n', 'ERR_HTTP1_CHUNK_FRAMING'],
    [
      'a trailer with a forbidden field (Content-Length)',
      '0\r\nContent-Length: 5\r\n\r\n',
      'ERR_HTTP1_TRAILER',
    ],
    [
      'a trailer with a forbidden field (Transfer-Encoding)',
      '0\r\nTransfer-Encoding: chunked\r\n\r\n',
      'ERR_HTTP1_TRAILER',
    ],
    ['a trailer that sets a Lanyard identity', '0\r\nX-Lanyard-User: admin\r\n\r\n', 'ERR_HTTP1_TRAILER'],
    ['a trailer with Authorization', '0\r\nAuthorization: Bearer x\r\n\r\n', 'ERR_HTTP1_TRAILER'],
    ['a malformed trailer', '0\r\nX A: 1\r\n\r\n', 'ERR_HTTP1_TRAILER'],
    ['a folded trailer', '0\r\nX-A: 1\r\n 2\r\n\r\n', 'ERR_HTTP1_TRAILER'],
    ['a NUL in a trailer', '0\r\nX-A: a\0b\r\n\r\n', 'ERR_HTTP1_TRAILER'],
    ['a bare LF in the trailer section', '0\r\nX-A: 1\n\r\n', 'ERR_HTTP1_LINE_ENDING'],
    [
      'a trailer section beyond its bound',
      `0\r\nX-A: ${'a'.repeat(HTTP1_LIMITS.trailerBytes)}\r\n\r\n`,
      'ERR_HTTP1_TRAILER',
    ],
    [
      'too many trailer fields',
      `0\r\n${'X-A: 1\r\n'.repeat(HTTP1_LIMITS.trailerFields + 1)}\r\n`,
      'ERR_HTTP1_TRAILER',
    ],
  ])('refuses %s', (_name, text, code) => {
    expect(chunkedRefusal(text)).toBe(code);
  });
});

describe('head serializers', () => {
  it('writes the framing fields itself, whatever the headers given say', () => {
    const head = serializeRequestHead(
      'POST',
      '/a',
      [
        ['Host', 'orders'],
        ['Content-Length', '999'],
        ['Transfer-Encoding', 'gzip'],
        ['Connection', 'close'],
      ],
      { kind: 'chunked' },
    );
    expect(head).toBe('POST /a HTTP/1.1\r\nHost: orders\r\ntransfer-encoding: chunked\r\n\r\n');
  });

  it('writes a response with its length and connection, and no framing for 204', () => {
    expect(serializeResponseHead(200, 'OK', [['X-A', 'b']], { kind: 'length', length: 2 }, 'close')).toBe(
      'HTTP/1.1 200 OK\r\nX-A: b\r\ncontent-length: 2\r\nconnection: close\r\n\r\n',
    );
    expect(serializeResponseHead(204, 'No Content', [], { kind: 'length', length: 2 }, undefined)).toBe(
      'HTTP/1.1 204 No Content\r\n\r\n',
    );
    expect(serializeResponseHead(200, 'OK', [], { kind: 'none', declaredLength: 7 }, undefined)).toBe(
      'HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n',
    );
  });

  it('refuses to write a field that could split a line (response splitting)', () => {
    expect(() =>
      serializeResponseHead(200, 'OK', [['X-A', 'a\r\nSet-Cookie: x']], { kind: 'none' }, undefined),
    ).toThrow(TypeError);
    expect(() => serializeRequestHead('GET', '/a b', [], { kind: 'none' })).toThrow(TypeError);
  });

  it('writes the last chunk with its trailers', () => {
    expect(lastChunk([['X-Checksum', 'abc']])).toBe('0\r\nX-Checksum: abc\r\n\r\n');
    expect(lastChunk([])).toBe('0\r\n\r\n');
  });
});
