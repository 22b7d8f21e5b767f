// The normalizer's one-scan fast path (a path already in normal form is returned as it is)
// against the general algorithm as it was before the fast path existed, kept here as the
// oracle: same path or same refusal, for every option set, on inputs made to hit both paths.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LanyardError } from './errors.ts';
import { createPathNormalizer, type PathOptions } from './path.ts';

type Options = Required<PathOptions>;

const ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%\\]*$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const HEX = /^[0-9A-Fa-f]{2}$/;

function refuse(reason: string, raw: string): never {
  throw new LanyardError('ERR_PATH_INVALID', `invalid request path: ${reason}`, { path: raw.slice(0, 256) });
}

/**
 * Decodes percent-encoded unreserved characters (so `%2e` is a dot before dot-segment removal),
 * upper-cases the hex of every other escape, and never decodes twice (`%252e` stays as it is).
 */
function decodeUnreserved(path: string, raw: string, options: Options): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const char = path[i]!;
    if (char === '\\') {
      if (options.backslashes === 'reject') refuse('backslash', raw);
      out += '/';
      continue;
    }
    if (char !== '%') {
      out += char;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) refuse('malformed percent-encoding', raw);
    i += 2;
    const code = parseInt(hex, 16);
    if (code === 0) refuse('null byte', raw);
    if (code === 0x2f || code === 0x5c) {
      if (options.escapedSlashes === 'reject') refuse('percent-encoded slash or backslash', raw);
      out += '/';
      continue;
    }
    const decoded = String.fromCharCode(code);
    out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
  }
  return out;
}

/** RFC 3986 section 5.2.4 on a slash-separated path; ".." never climbs above the root. */
function removeDotSegments(segments: string[]): string[] {
  const out: string[] = [];
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      // "/a/." and "/a/.." name a directory: keep the trailing slash.
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return out;
}

function referenceNormalize(raw: string, options: Options): string {
  if (typeof raw !== 'string') throw new TypeError('a request path must be a string');
  if (raw.length > options.maxLength) refuse(`longer than ${options.maxLength} characters`, raw);
  if (raw.includes('\0')) refuse('null byte', raw);
  const end = raw.search(/[?#]/);
  const path = end === -1 ? raw : raw.slice(0, end);
  if (!path.startsWith('/')) refuse('must start with "/"', raw);
  if (!ALLOWED.test(path)) refuse('character not allowed in a path', raw);

  const decoded = decodeUnreserved(path, raw, options);
  let segments = decoded.split('/').slice(1);
  if (decoded.includes(';')) {
    if (options.semicolons === 'reject') refuse('path parameters (";")', raw);
    if (options.semicolons === 'strip') segments = segments.map((s) => s.split(';', 1)[0]!);
  }
  // Merging repeated slashes: "//admin" is "/admin" to most routers, so it must be to us too.
  const merged = segments.filter((segment, i) => segment !== '' || i === segments.length - 1);
  let result = `/${removeDotSegments(merged).join('/')}`;
  if (!options.caseSensitive) {
    result = result.toLowerCase().replace(/%[0-9a-f]{2}/g, (escape) => escape.toUpperCase());
  }
  return result;
}

function outcome(normalize: (raw: string) => string, raw: string): string {
  try {
    return `ok ${normalize(raw)}`;
  } catch (error) {
    return `error ${(error as Error).message}`;
  }
}

// Mostly plain characters, so that many inputs are already normal, plus what sends a path
// to the general algorithm.
const PIECES = [
  'a',
  'Z',
  '0',
  '-',
  '.',
  '..',
  '/',
  '//',
  '~',
  '@',
  ':',
  '%2e',
  '%41',
  ';',
  '\\',
  '?',
  '#',
  '\0',
  ' ',
  'é',
];
const rawPath = fc.oneof(
  fc
    .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 3 })), { maxLength: 16 })
    .map((pieces) => pieces.join('')),
  fc
    .array(fc.constantFrom('/', 'ab', 'C', '.', '..', '?q', '#f'), { maxLength: 10 })
    .map((p) => `/${p.join('')}`),
);
const OPTION_SETS: Options[] = [
  {
    escapedSlashes: 'reject',
    backslashes: 'reject',
    semicolons: 'reject',
    caseSensitive: true,
    maxLength: 8192,
  },
  {
    escapedSlashes: 'decode',
    backslashes: 'slash',
    semicolons: 'strip',
    caseSensitive: false,
    maxLength: 8192,
  },
  { escapedSlashes: 'reject', backslashes: 'reject', semicolons: 'keep', caseSensitive: true, maxLength: 12 },
];

describe.each(OPTION_SETS.map((options) => [JSON.stringify(options), options] as const))(
  'the fast path agrees with the general algorithm (%s)',
  (_, options) => {
    const normalize = createPathNormalizer(options);
    it('gives the same path or the same refusal', () => {
      fc.assert(
        fc.property(rawPath, (raw) => {
          expect(outcome(normalize, raw)).toBe(outcome((r) => referenceNormalize(r, options), raw));
        }),
        { numRuns: 5000 },
      );
    });

    it.each(['/', '/a', '/a/', '/a/b?x=1', '/a#f', '/.a/..b/...', '/A/b', '/a?\0', '/a/./b', '/a//b', '/..'])(
      'agrees on %j',
      (raw) => {
        expect(outcome(normalize, raw)).toBe(outcome((r) => referenceNormalize(r, options), raw));
      },
    );
  },
);
