// A strict, bounded HTTP/1.1 codec (RFC 9110, RFC 9112) with no sockets: head parsers, body
// framing, a chunked-body decoder and head serializers. Strict on purpose: every message that
// two parsers could read differently (request smuggling) is refused, not repaired. The engine
// re-frames what it forwards, so no framing byte of one peer ever reaches the other.
import { METHODS } from 'node:http';
import {
  FOREIGN_IDENTITY_HEADERS,
  HOP_BY_HOP_HEADERS,
  RESERVED_PREFIX,
  type HeaderList,
} from '../headers.ts';
import { Http1Error, type Http1ErrorCode } from './errors.ts';

export const HTTP1_LIMITS = Object.freeze({
  /** Bytes of a whole head: request or status line, fields, and the empty line. */
  headBytes: 32 * 1024,
  /** Fields in one head. */
  fields: 128,
  /** Bytes of a request line. */
  requestLine: 8 * 1024,
  /** Hex digits of a chunk size: at most 0xffffffff bytes per chunk. */
  chunkSizeDigits: 8,
  /** Bytes of the extensions of one chunk (dropped, never forwarded). */
  chunkExtension: 1024,
  /** Bytes and fields of a trailer section. */
  trailerBytes: 8 * 1024,
  trailerFields: 32,
});

/** How a message body is delimited. `declaredLength` is a HEAD or 304 answer's Content-Length. */
export type BodyFraming =
  | { readonly kind: 'none'; readonly declaredLength?: number }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

export const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
export const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked' });
export const CLOSE_DELIMITED: BodyFraming = Object.freeze({ kind: 'close' });

export type HttpVersion = '1.0' | '1.1';

export interface RequestHead {
  readonly method: string;
  /** Origin form (path and query), or `*` for OPTIONS. */
  readonly target: string;
  readonly version: HttpVersion;
  /** Every field in arrival order, names as sent, values without surrounding whitespace. */
  readonly headers: HeaderList;
  /** The Host value (undefined only for HTTP/1.0 without one). */
  readonly host: string | undefined;
  /** Never close-delimited: a request without length or chunking has no body. */
  readonly framing: BodyFraming;
  /** Whether the client lets the connection stay open after this exchange. */
  readonly keepAlive: boolean;
  readonly expectContinue: boolean;
  /** Lowercased tokens of Connection: the fields they name are hop-by-hop too. */
  readonly connectionTokens: readonly string[];
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly version: HttpVersion;
  readonly headers: HeaderList;
  readonly framing: BodyFraming;
  readonly keepAlive: boolean;
  readonly connectionTokens: readonly string[];
}

/**
 * The methods Node's own parser knows: an app behind the sidecar (often Node) could not read
 * another one, so it is refused here with 501 rather than forwarded. CONNECT is refused apart.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

const CR = 0x0d;
const LF = 0x0a;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** RFC 9110 tchar, by character code (a table: names are checked on every message). */
const TCHAR: readonly boolean[] = Array.from({ length: 128 }, (_, code) =>
  /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/.test(String.fromCharCode(code)),
);
/** Origin-form targets: visible ASCII only (no whitespace, controls or non-ASCII), no fragment. */
const ORIGIN_FORM = /^\/[\x21-\x22\x24-\x7e]*$/;
/** Host: a reg-name, IPv4 or bracketed IPv6 literal, an optional port; empty is allowed. */
const HOST_VALUE = /^[A-Za-z0-9._~!$&'()*+,;=%:[\]-]*$/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;
/** Bytes a chunk extension may hold: RFC 9110 tchar, `=` and `;`. */
const EXTENSION_BYTES: readonly boolean[] = Array.from({ length: 256 }, (_, byte) =>
  /^[!#$%&'*+\-.^_`|~0-9A-Za-z=;]$/.test(String.fromCharCode(byte)),
);
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

/** Fields that may not travel in a trailer (RFC 9110 §6.5.1): framing, routing, credentials, control. */
const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  ...FOREIGN_IDENTITY_HEADERS,
  'authorization',
  'cache-control',
  'content-encoding',
  'content-length',
  'content-range',
  'content-type',
  'cookie',
  'expect',
  'host',
  'location',
  'max-forwards',
  'range',
  'set-cookie',
  'www-authenticate',
]);

/** An RFC 9110 token: one or more tchar. */
function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f || !TCHAR[code]) return false;
  }
  return true;
}

/** Field values: HTAB, SP, visible ASCII and obs-text; no CR, LF, NUL, other controls or DEL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// A regular expression: V8 runs it as machine code, twice as fast as a loop over char codes.
const isFieldValue = (text: string): boolean => FIELD_VALUE.test(text);

const isBlank = (code: number) => code === 0x20 || code === 0x09;

function fail(code: Http1ErrorCode): never {
  throw new Http1Error(code);
}

/**
 * The end of the head that starts at buffer[0] (the index just past its empty line), or -1
 * while incomplete. Throws as soon as the bytes seen break a rule: a bare CR or LF, a request
 * line or head beyond its limit. `from` is how far an earlier call already checked.
 */
export function findHeadEnd(buffer: Buffer, from: number, isRequest: boolean): number {
  const found = buffer.indexOf(HEAD_END, Math.max(0, from - 3));
  const end = found === -1 ? -1 : found + 4;
  const checkedTo = end === -1 ? buffer.length : end;
  for (let i = buffer.indexOf(LF, from); i !== -1 && i < checkedTo; i = buffer.indexOf(LF, i + 1)) {
    if (i === 0 || buffer[i - 1] !== CR) fail('ERR_HTTP1_LINE_ENDING');
  }
  for (
    let i = buffer.indexOf(CR, Math.max(0, from - 1));
    i !== -1 && i < checkedTo;
    i = buffer.indexOf(CR, i + 1)
  ) {
    if (i + 1 < buffer.length && buffer[i + 1] !== LF) fail('ERR_HTTP1_LINE_ENDING');
  }
  if (isRequest) {
    const lineEnd = buffer.indexOf(CR);
    if ((lineEnd === -1 ? buffer.length : lineEnd) > HTTP1_LIMITS.requestLine) fail('ERR_HTTP1_URI_TOO_LONG');
  }
  if ((end === -1 ? buffer.length : end) > HTTP1_LIMITS.headBytes) fail('ERR_HTTP1_HEAD_TOO_LARGE');
  return end;
}

/** One `name: value` line; throws `invalid` for a malformed one. */
function parseField(
  line: string,
  invalidName: Http1ErrorCode,
  invalidValue: Http1ErrorCode,
): [string, string] {
  const first = line.charCodeAt(0);
  if (first === 0x20 || first === 0x09)
    fail(invalidName === 'ERR_HTTP1_FIELD_NAME' ? 'ERR_HTTP1_OBS_FOLD' : invalidName);
  const colon = line.indexOf(':');
  if (colon <= 0) fail(invalidName);
  const name = line.slice(0, colon);
  if (!isToken(name)) fail(invalidName);
  // The value without the whitespace around it (whitespace is valid in a value: check the rest).
  let start = colon + 1;
  let end = line.length;
  while (start < end && isBlank(line.charCodeAt(start))) start++;
  while (end > start && isBlank(line.charCodeAt(end - 1))) end--;
  const value = line.slice(start, end);
  if (!isFieldValue(value)) fail(invalidValue);
  return [name, value];
}

interface FieldSection {
  headers: [string, string][];
  contentLength: string[];
  transferEncoding: string[];
  host: string[];
  connection: string[];
  expect: string[];
}

/** The field lines of a head (after its first line), with the values framing depends on. */
function parseFields(head: string, start: number): FieldSection {
  const section: FieldSection = {
    headers: [],
    contentLength: [],
    transferEncoding: [],
    host: [],
    connection: [],
    expect: [],
  };
  let position = start;
  while (position < head.length) {
    let lineEnd = head.indexOf('\r\n', position);
    if (lineEnd === -1) lineEnd = head.length;
    const line = head.slice(position, lineEnd);
    const field = parseField(line, 'ERR_HTTP1_FIELD_NAME', 'ERR_HTTP1_FIELD_VALUE');
    if (section.headers.length === HTTP1_LIMITS.fields) fail('ERR_HTTP1_HEAD_TOO_LARGE');
    section.headers.push(field);
    switch (field[0].length) {
      case 4:
        if (field[0].toLowerCase() === 'host') section.host.push(field[1]);
        break;
      case 6:
        if (field[0].toLowerCase() === 'expect') section.expect.push(field[1]);
        break;
      case 10:
        if (field[0].toLowerCase() === 'connection') section.connection.push(field[1]);
        break;
      case 14:
        if (field[0].toLowerCase() === 'content-length') {
          // llhttp refuses a tab around the number: so does this codec, so no peer reads it otherwise.
          if (line.includes('\t')) fail('ERR_HTTP1_CONTENT_LENGTH');
          section.contentLength.push(field[1]);
        }
        break;
      case 17:
        if (field[0].toLowerCase() === 'transfer-encoding') {
          if (line.includes('\t')) fail('ERR_HTTP1_TRANSFER_ENCODING');
          section.transferEncoding.push(field[1]);
        }
        break;
    }
    position = lineEnd + 2;
  }
  return section;
}

function connectionTokensOf(values: readonly string[]): string[] {
  const tokens: string[] = [];
  for (const value of values) {
    for (const part of value.split(',')) {
      const token = part.trim().toLowerCase();
      if (token !== '') tokens.push(token);
    }
  }
  return tokens;
}

function keepAliveOf(version: HttpVersion, tokens: readonly string[]): boolean {
  if (tokens.includes('close')) return false;
  return version === '1.1' || tokens.includes('keep-alive');
}

/** Body framing from Content-Length and Transfer-Encoding; undefined when neither is present. */
function framingOf(section: FieldSection, version: HttpVersion): BodyFraming | undefined {
  const { contentLength, transferEncoding } = section;
  if (transferEncoding.length > 0) {
    if (contentLength.length > 0 || transferEncoding.length > 1 || version === '1.0') {
      fail('ERR_HTTP1_TRANSFER_ENCODING');
    }
    const coding = transferEncoding[0]!.toLowerCase();
    if (coding === 'chunked') return CHUNKED;
    if (coding.includes(',')) fail('ERR_HTTP1_TRANSFER_ENCODING');
    fail('ERR_HTTP1_CODING_UNSUPPORTED');
  }
  if (contentLength.length === 0) return undefined;
  if (contentLength.length > 1 || !CONTENT_LENGTH.test(contentLength[0]!)) fail('ERR_HTTP1_CONTENT_LENGTH');
  return { kind: 'length', length: Number(contentLength[0]) };
}

/** Parses a request head: the bytes before its empty line, as latin1 text. */
export function parseRequestHead(head: string): RequestHead {
  const lineEnd = head.indexOf('\r\n');
  const line = lineEnd === -1 ? head : head.slice(0, lineEnd);
  const firstSpace = line.indexOf(' ');
  const lastSpace = line.lastIndexOf(' ');
  if (firstSpace <= 0 || lastSpace === firstSpace) fail('ERR_HTTP1_REQUEST_LINE');
  const method = line.slice(0, firstSpace);
  const target = line.slice(firstSpace + 1, lastSpace);
  const versionText = line.slice(lastSpace + 1);
  if (!isToken(method)) fail('ERR_HTTP1_REQUEST_LINE');
  let version: HttpVersion;
  if (versionText === 'HTTP/1.1') version = '1.1';
  else if (versionText === 'HTTP/1.0') version = '1.0';
  else if (/^HTTP\/[0-9]\.[0-9]$/.test(versionText)) fail('ERR_HTTP1_VERSION');
  else fail('ERR_HTTP1_REQUEST_LINE');
  if (method === 'CONNECT') fail('ERR_HTTP1_CONNECT');
  if (!KNOWN_METHODS.has(method)) fail('ERR_HTTP1_METHOD');
  if (!(ORIGIN_FORM.test(target) || (target === '*' && method === 'OPTIONS'))) fail('ERR_HTTP1_TARGET');

  const section = parseFields(head, lineEnd === -1 ? head.length : lineEnd + 2);
  if (section.host.length > 1 || (version === '1.1' && section.host.length === 0)) fail('ERR_HTTP1_HOST');
  const host = section.host[0];
  if (host !== undefined && !HOST_VALUE.test(host)) fail('ERR_HTTP1_HOST');
  const framing = framingOf(section, version) ?? NO_BODY;
  let expectContinue = false;
  if (section.expect.length > 0) {
    if (section.expect.length > 1 || section.expect[0]!.toLowerCase() !== '100-continue') {
      fail('ERR_HTTP1_EXPECTATION');
    }
    // RFC 9110 §10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
    expectContinue = version === '1.1';
  }
  const connectionTokens = connectionTokensOf(section.connection);
  return {
    method,
    target,
    version,
    headers: section.headers,
    host,
    framing: framing.kind === 'length' && framing.length === 0 ? NO_BODY : framing,
    keepAlive: keepAliveOf(version, connectionTokens),
    expectContinue,
    connectionTokens,
  };
}

/**
 * Parses a response head to a request with `requestMethod`. Errors carry request-side codes;
 * the engine answers its own client 502 for any of them.
 */
export function parseResponseHead(head: string, requestMethod: string): ResponseHead {
  const lineEnd = head.indexOf('\r\n');
  const match = STATUS_LINE.exec(lineEnd === -1 ? head : head.slice(0, lineEnd));
  if (!match) fail('ERR_HTTP1_STATUS_LINE');
  const version: HttpVersion = match[1] === '1' ? '1.1' : '1.0';
  const status = Number(match[2]);
  const section = parseFields(head, lineEnd === -1 ? head.length : lineEnd + 2);
  const declared = framingOf(section, version);
  let framing: BodyFraming;
  if (status < 200 || status === 204) {
    framing = NO_BODY;
  } else if (requestMethod === 'HEAD' || status === 304) {
    framing = declared?.kind === 'length' ? { kind: 'none', declaredLength: declared.length } : NO_BODY;
  } else {
    framing = declared ?? CLOSE_DELIMITED;
  }
  const connectionTokens = connectionTokensOf(section.connection);
  return {
    status,
    reason: match[3] ?? '',
    version,
    headers: section.headers,
    framing,
    keepAlive: framing.kind !== 'close' && keepAliveOf(version, connectionTokens),
    connectionTokens,
  };
}

/** The chunked decoder's states. */
const ChunkState = {
  Size: 0,
  Extension: 1,
  SizeLf: 2,
  Data: 3,
  DataCr: 4,
  DataLf: 5,
  TrailerLine: 6,
  TrailerLf: 7,
  Done: 8,
} as const;
type ChunkState = (typeof ChunkState)[keyof typeof ChunkState];

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Decodes a chunked body incrementally (RFC 9112 §7.1): data goes to onData without its
 * framing, extensions are checked and dropped, trailer fields are validated and kept.
 */
export class ChunkedDecoder {
  private state: ChunkState = ChunkState.Size;
  private remaining = 0;
  private digits = 0;
  private extensionBytes = 0;
  private line: number[] = [];
  private trailerBytes = 0;
  readonly trailers: [string, string][] = [];

  get done(): boolean {
    return this.state === ChunkState.Done;
  }

  /**
   * Decodes buffer[offset..]; returns the index after the last byte consumed, which is before
   * buffer.length only once the body is complete (the rest belongs to the next message).
   */
  decode(buffer: Buffer, offset: number, onData: (chunk: Buffer) => void): number {
    let i = offset;
    while (i < buffer.length && this.state !== ChunkState.Done) {
      const byte = buffer[i]!;
      switch (this.state) {
        case ChunkState.Size: {
          const value = hexValue(byte);
          if (value >= 0) {
            if (++this.digits > HTTP1_LIMITS.chunkSizeDigits) fail('ERR_HTTP1_CHUNK_SIZE');
            this.remaining = this.remaining * 16 + value;
          } else if (this.digits > 0 && byte === 0x3b) {
            this.state = ChunkState.Extension;
          } else if (this.digits > 0 && byte === CR) {
            this.state = ChunkState.SizeLf;
          } else {
            fail('ERR_HTTP1_CHUNK_SIZE');
          }
          i += 1;
          break;
        }
        case ChunkState.Extension:
          // Tokens, `=` and `;` only: no whitespace or quoted strings, which llhttp refuses or reads
          // otherwise in its strict mode. Extensions are dropped anyway.
          if (byte === CR) this.state = ChunkState.SizeLf;
          else if (!EXTENSION_BYTES[byte]) fail('ERR_HTTP1_CHUNK_EXTENSION');
          else if (++this.extensionBytes > HTTP1_LIMITS.chunkExtension) fail('ERR_HTTP1_CHUNK_EXTENSION');
          i += 1;
          break;
        case ChunkState.SizeLf:
          if (byte !== LF) fail('ERR_HTTP1_LINE_ENDING');
          this.state = this.remaining === 0 ? ChunkState.TrailerLine : ChunkState.Data;
          i += 1;
          break;
        case ChunkState.Data: {
          const take = Math.min(this.remaining, buffer.length - i);
          onData(buffer.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = ChunkState.DataCr;
          break;
        }
        case ChunkState.DataCr:
          if (byte !== CR) fail('ERR_HTTP1_CHUNK_FRAMING');
          this.state = ChunkState.DataLf;
          i += 1;
          break;
        case ChunkState.DataLf:
          if (byte !== LF) fail('ERR_HTTP1_CHUNK_FRAMING');
          this.state = ChunkState.Size;
          this.digits = 0;
          this.extensionBytes = 0;
          i += 1;
          break;
        case ChunkState.TrailerLine:
          if (byte === CR) this.state = ChunkState.TrailerLf;
          else if (byte === LF) fail('ERR_HTTP1_LINE_ENDING');
          else this.line.push(byte);
          if (++this.trailerBytes > HTTP1_LIMITS.trailerBytes) fail('ERR_HTTP1_TRAILER');
          i += 1;
          break;
        case ChunkState.TrailerLf:
          if (byte !== LF) fail('ERR_HTTP1_LINE_ENDING');
          i += 1;
          if (this.line.length === 0) {
            this.state = ChunkState.Done;
          } else {
            this.addTrailer(Buffer.from(this.line).toString('latin1'));
            this.line = [];
            this.state = ChunkState.TrailerLine;
          }
          break;
      }
    }
    return i;
  }

  private addTrailer(line: string): void {
    const field = parseField(line, 'ERR_HTTP1_TRAILER', 'ERR_HTTP1_TRAILER');
    const name = field[0].toLowerCase();
    if (FORBIDDEN_TRAILERS.has(name) || name.startsWith(RESERVED_PREFIX)) fail('ERR_HTTP1_TRAILER');
    if (this.trailers.length === HTTP1_LIMITS.trailerFields) fail('ERR_HTTP1_TRAILER');
    this.trailers.push(field);
  }
}

/** `name: value` lines, refusing (TypeError) what could split a line or a name. */
function fieldLines(headers: HeaderList): string {
  let lines = '';
  for (const [name, value] of headers) {
    if (!isToken(name) || !isFieldValue(value)) {
      throw new TypeError(
        `refusing to serialize a malformed header field ${JSON.stringify(name.slice(0, 64))}`,
      );
    }
    const lower = name.length === 10 || name.length === 14 || name.length === 17 ? name.toLowerCase() : '';
    // The engine writes the framing and connection fields itself, from the framing it uses.
    if (lower === 'connection' || lower === 'content-length' || lower === 'transfer-encoding') continue;
    lines += `${name}: ${value}\r\n`;
  }
  return lines;
}

function framingLine(framing: BodyFraming): string {
  if (framing.kind === 'length') return `content-length: ${framing.length}\r\n`;
  if (framing.kind === 'chunked') return 'transfer-encoding: chunked\r\n';
  if (framing.kind === 'none' && framing.declaredLength !== undefined)
    return `content-length: ${framing.declaredLength}\r\n`;
  return '';
}

/** A request head with the framing fields of `framing` (never close-delimited). */
export function serializeRequestHead(
  method: string,
  target: string,
  headers: HeaderList,
  framing: BodyFraming,
  extra: HeaderList = [],
): string {
  if (!isToken(method) || !(ORIGIN_FORM.test(target) || target === '*')) {
    throw new TypeError('refusing to serialize a malformed request line');
  }
  if (framing.kind === 'close') throw new TypeError('a request body cannot be close-delimited');
  return `${method} ${target} HTTP/1.1\r\n${fieldLines(headers)}${fieldLines(extra)}${framingLine(framing)}\r\n`;
}

/**
 * A response head with the framing fields of `framing` and a Connection field that says
 * whether the connection stays open (`keep-alive` is said only to HTTP/1.0 clients).
 */
export function serializeResponseHead(
  status: number,
  reason: string,
  headers: HeaderList,
  framing: BodyFraming,
  connection: 'close' | 'keep-alive' | undefined,
): string {
  if (!Number.isInteger(status) || status < 100 || status > 599 || !isFieldValue(reason)) {
    throw new TypeError('refusing to serialize a malformed status line');
  }
  const framingField = status >= 200 && status !== 204 ? framingLine(framing) : '';
  const connectionField = connection === undefined ? '' : `connection: ${connection}\r\n`;
  return `HTTP/1.1 ${status} ${reason}\r\n${fieldLines(headers)}${framingField}${connectionField}\r\n`;
}

/** The last chunk and the trailer section of a chunked body. */
export function lastChunk(trailers: HeaderList): string {
  if (trailers.length === 0) return '0\r\n\r\n';
  return `0\r\n${fieldLines(trailers)}\r\n`;
}
