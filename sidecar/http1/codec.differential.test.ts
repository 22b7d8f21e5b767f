// Differential test: random and mutated requests go to this codec and to Node's own parser
// (llhttp, through node:_http_common, as Node's http server runs it). Whenever this codec
// accepts a request, llhttp must accept it too and read the same method, target, headers, body
// and message end: an app behind the sidecar then can never frame a request differently.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder, findHeadEnd, parseRequestHead } from './codec.ts';
import { Http1Error } from './errors.ts';

interface ParserBinding {
  new (): {
    initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
    execute(data: Buffer): number | Error;
    [callback: number]: unknown;
  };
  REQUEST: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common') as {
  HTTPParser: ParserBinding;
  methods: string[];
};

interface Reading {
  method: string;
  target: string;
  headers: string[];
  body: string;
  keepAlive: boolean;
  /** Bytes of the first message, head and body. */
  end: number;
}

/** This codec, driven as the connection engine drives it; undefined when refused or incomplete. */
function ours(bytes: Buffer): Reading | undefined {
  try {
    const headEnd = findHeadEnd(bytes, 0, true);
    if (headEnd === -1) return undefined;
    const head = parseRequestHead(bytes.toString('latin1', 0, headEnd - 4));
    let body = '';
    let end = headEnd;
    if (head.framing.kind === 'length') {
      end = headEnd + head.framing.length;
      if (end > bytes.length) return undefined;
      body = bytes.toString('latin1', headEnd, end);
    } else if (head.framing.kind === 'chunked') {
      const decoder = new ChunkedDecoder();
      end = decoder.decode(bytes, headEnd, (chunk) => (body += chunk.toString('latin1')));
      if (!decoder.done) return undefined;
    }
    const headers = head.headers.flatMap(([name, value]) => [name, value]);
    return { method: head.method, target: head.target, headers, body, keepAlive: head.keepAlive, end };
  } catch (error) {
    if (error instanceof Http1Error) return undefined;
    throw error;
  }
}

/** llhttp on exactly `bytes`: the one message it read, or why not. */
function llhttp(bytes: Buffer): Reading | string {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, 32 * 1024, 0);
  let begun = 0;
  let completed = 0;
  let reading: Omit<Reading, 'end' | 'body'> | undefined;
  const partialHeaders: string[] = [];
  let partialUrl = '';
  let body = '';
  parser[HTTPParser.kOnMessageBegin] = () => (begun += 1);
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    partialHeaders.push(...headers);
    partialUrl += url;
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    method: number,
    url: string | undefined,
    _status: number,
    _message: string,
    _upgrade: boolean,
    keepAlive: boolean,
  ) => {
    reading = {
      method: methods[method]!,
      target: url || partialUrl,
      headers: headers ?? partialHeaders,
      keepAlive,
    };
    return 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => (body += chunk.toString('latin1'));
  parser[HTTPParser.kOnMessageComplete] = () => (completed += 1);
  const result = parser.execute(bytes);
  if (result instanceof Error) return (result as Error & { code: string }).code;
  if (begun !== 1 || completed !== 1 || !reading) return `messages begun ${begun}, completed ${completed}`;
  return { ...reading, body, end: bytes.length };
}

const TOKEN_CHARS = "!#$%&'*+-.^_`|~azAZ09".split('');

/** Mostly one of `common`, sometimes one of `odd`: most requests then get far enough to matter. */
function mostly<T>(common: readonly T[], odd: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...common) }, { weight: 1, arbitrary: odd });
}

const name = mostly(
  ['Content-Length', 'content-length', 'Transfer-Encoding', 'Connection', 'Expect', 'X-A', 'X-B', 'Accept'],
  fc.oneof(
    fc.constantFrom('Host', 'host', 'transfer-encoding', 'Upgrade'),
    fc.string({ unit: fc.constantFrom(...TOKEN_CHARS, ' ', '\t', '(', '\x00'), minLength: 1, maxLength: 6 }),
  ),
);
const value = mostly(
  ['chunked', 'Chunked', '5', '3', '0', 'close', 'keep-alive', '100-continue', 'text/plain', 'a b', ''],
  fc.oneof(
    fc.constantFrom(
      'gzip, chunked',
      'chunked, identity',
      ' chunked ',
      'xchunked',
      '05',
      '+5',
      '-1',
      '5, 5',
      '0x5',
    ),
    fc.string({
      unit: fc.constantFrom('a', 'Z', '5', ' ', '\t', ',', ';', '=', ':', '"', '\xe9', '\x01', '\x7f'),
      maxLength: 8,
    }),
  ),
);
const method = mostly(
  ['GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH', 'PROPFIND'],
  fc.constantFrom('CONNECT', 'FROB', 'get'),
);
const target = mostly(
  ['/', '/a?b=c', '//x', '/%2e%2e/', '/a/b.c'],
  fc.oneof(
    fc.constantFrom('*', 'http://x/', '/a b', '/a#f'),
    fc
      .string({
        unit: fc.constantFrom(...'/ab?=&%.:@!$\'()*+,;~-_"<>{}|\\^`[]\xe9\t'.split('')),
        maxLength: 12,
      })
      .map((path) => `/${path}`),
  ),
);
const version = mostly(
  ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'],
  fc.constantFrom('HTTP/1.2', 'HTTP/2.0', 'http/1.1'),
);
const tail = mostly(
  [
    '',
    'abc',
    'hello',
    '3\r\nabc\r\n0\r\n\r\n',
    '3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n',
    '0\r\n\r\n',
    '5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /next HTTP/1.1\r\nHost: a\r\n\r\n',
  ],
  fc.oneof(
    fc.constantFrom('3\nabc\n0\n\n', '3\r\nabcd\r\n0\r\n\r\n', '0\r\nContent-Length: 1\r\n\r\n'),
    fc.string({ unit: fc.constantFrom('a', '0', '3', '\r', '\n', ';', ':', ' '), maxLength: 12 }),
  ),
);

/** A request built from parts that are mostly valid, with one Host most of the time. */
const request = fc
  .record({
    method,
    target,
    version,
    withHost: mostly([true], fc.constant(false)),
    fields: fc.array(fc.tuple(name, value), { maxLength: 4 }),
    tail,
  })
  .map(({ method, target, version, withHost, fields, tail }) => {
    const lines = [`${method} ${target} ${version}`, ...(withHost ? ['Host: orders'] : [])];
    for (const [fieldName, fieldValue] of fields) lines.push(`${fieldName}: ${fieldValue}`);
    return `${lines.join('\r\n')}\r\n\r\n${tail}`;
  });

const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('insert', 'delete', 'replace'),
  char: fc.constantFrom(
    ' ',
    '\t',
    '\r',
    '\n',
    '\r\n',
    '\0',
    ':',
    ',',
    ';',
    '0',
    'a',
    '\x0b',
    '\xff',
    ' \r\n',
  ),
});

function mutate(text: string, mutations: readonly { at: number; kind: string; char: string }[]): string {
  let out = text;
  for (const { at, kind, char } of mutations) {
    const index = at % (out.length + 1);
    if (kind === 'insert') out = out.slice(0, index) + char + out.slice(index);
    else if (kind === 'delete') out = out.slice(0, index) + out.slice(index + 1);
    else out = out.slice(0, index) + char + out.slice(index + 1);
  }
  return out;
}

/** Checks the property for one input; counts what this codec accepted. */
function agree(text: string, counts: { accepted: number }): void {
  const bytes = Buffer.from(text, 'latin1');
  const mine = ours(bytes);
  if (!mine) return;
  counts.accepted += 1;
  // llhttp reads exactly the bytes this codec says the message spans: one message, no error.
  const theirs = llhttp(bytes.subarray(0, mine.end));
  // Keep-alive decides only whether the connection stays open after the answer, never where a
  // message ends: this codec may close where llhttp would not (an HTTP/1.0 request that lists
  // both keep-alive and close: llhttp reads only keep-alive), never the other way round.
  if (typeof theirs === 'object' && !mine.keepAlive) theirs.keepAlive = false;
  expect(theirs).toEqual(mine);
}

// Disagreements the generated and mutated requests found, each refused now as llhttp does.
it.each([
  {
    what: 'a tab around a Content-Length',
    request: 'GET / HTTP/1.1\r\nHost: orders\r\nContent-Length: 5\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    llhttpError: 'HPE_INVALID_CONTENT_LENGTH',
  },
  {
    what: 'whitespace in a chunk extension (strict llhttp)',
    request:
      'POST / HTTP/1.1\r\nHost: orders\r\ntransfer-encoding: chunked\r\n\r\n3; ext=1\r\nabc\r\n0\r\n\r\n',
    llhttpError: 'HPE_STRICT',
  },
])('refuses $what, as llhttp does', ({ request, llhttpError }) => {
  const bytes = Buffer.from(request, 'latin1');
  expect(llhttp(bytes)).toBe(llhttpError);
  expect(ours(bytes)).toBeUndefined();
});

it('closes where llhttp would keep an HTTP/1.0 connection open that also says close', () => {
  const bytes = Buffer.from(
    'GET / HTTP/1.0\r\nHost: orders\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n',
    'latin1',
  );
  expect(ours(bytes)).toMatchObject({ keepAlive: false });
  expect(llhttp(bytes)).toMatchObject({ keepAlive: true });
});

describe('request parsing agrees with llhttp whenever this codec accepts', () => {
  it('on generated requests', () => {
    const counts = { accepted: 0 };
    fc.assert(
      fc.property(request, (text) => agree(text, counts)),
      { numRuns: 3000 },
    );
    expect(counts.accepted).toBeGreaterThan(600);
  });

  it('on mutated requests', () => {
    const counts = { accepted: 0 };
    fc.assert(
      fc.property(request, fc.array(mutation, { minLength: 1, maxLength: 3 }), (text, mutations) =>
        agree(mutate(text, mutations), counts),
      ),
      { numRuns: 3000 },
    );
    expect(counts.accepted).toBeGreaterThan(100);
  });
});
