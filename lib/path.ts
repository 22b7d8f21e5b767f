import { LanyardError } from './errors.ts';
import type { PathErrorCode } from './path-errors.ts';

/**
 * A request path in its one canonical form. Only the normalizer makes these, so that policy
 * matching and forwarding can never see two spellings of the same resource.
 */
export type NormalizedPath = string & { readonly __normalizedPath: true };

export interface PathOptions {
  /** What to do with `%2F` and `%5C`: refuse the request (default) or decode them to `/`. */
  readonly escapedSlashes?: 'reject' | 'decode';
  /** What to do with a raw `\`: refuse the request (default) or treat it as `/`, as Windows servers do. */
  readonly backslashes?: 'reject' | 'slash';
  /**
   * Path parameters (`/admin;jsessionid=x`): refuse them (default), keep them as literal text, or strip
   * them from each segment as Java servlet containers do before routing.
   */
  readonly semicolons?: 'reject' | 'keep' | 'strip';
  /** Match paths case-sensitively (default true, as RFC 3986 says); false lowercases them. */
  readonly caseSensitive?: boolean;
  /** Longest raw path accepted, in characters (default 8192). */
  readonly maxLength?: number;
}

type ResolvedPathOptions = Required<PathOptions>;

const DEFAULTS: ResolvedPathOptions = Object.freeze({
  escapedSlashes: 'reject',
  backslashes: 'reject',
  semicolons: 'reject',
  caseSensitive: true,
  maxLength: 8192,
});

// RFC 3986 pchar and "/" plus the characters this normalizer handles itself ("%", "\").
const ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%\\]*$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const HEX = /^[0-9A-Fa-f]{2}$/;

function refuse(reason: string, raw: string): never {
  throw new LanyardError<PathErrorCode>('ERR_PATH_INVALID', `invalid request path: ${reason}`, {
    path: raw.slice(0, 256),
  });
}

function checkOptions(options: PathOptions): ResolvedPathOptions {
  const resolved = { ...DEFAULTS, ...options };
  if (!['reject', 'decode'].includes(resolved.escapedSlashes)) {
    throw new TypeError('escapedSlashes must be "reject" or "decode"');
  }
  if (!['reject', 'slash'].includes(resolved.backslashes)) {
    throw new TypeError('backslashes must be "reject" or "slash"');
  }
  if (!['reject', 'keep', 'strip'].includes(resolved.semicolons)) {
    throw new TypeError('semicolons must be "reject", "keep" or "strip"');
  }
  if (typeof resolved.caseSensitive !== 'boolean') throw new TypeError('caseSensitive must be a boolean');
  if (!Number.isInteger(resolved.maxLength) || resolved.maxLength < 1 || resolved.maxLength > 65536) {
    throw new TypeError('maxLength must be an integer from 1 to 65536');
  }
  return Object.freeze(resolved);
}

/**
 * Decodes percent-encoded unreserved characters (so `%2e` is a dot before dot-segment removal),
 * upper-cases the hex of every other escape, and never decodes twice (`%252e` stays as it is).
 */
function decodeUnreserved(path: string, raw: string, options: ResolvedPathOptions): string {
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

/**
 * Characters that stand for themselves in a path already in normal form: RFC 3986 pchar and "/"
 * less the three that the general algorithm rewrites or refuses ("%", "\\", ";").
 */
const PLAIN = new Uint8Array(128);
for (const char of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/")
  PLAIN[char.charCodeAt(0)] = 1;
const SLASH = 0x2f;
const DOT = 0x2e;
const QUESTION = 0x3f;
const HASH = 0x23;

/**
 * The normal form of a path that is in it already, found by one scan: only plain characters, no
 * empty segment but a final one, no "." or ".." segment. Anything else (escapes, backslashes,
 * parameters, repeated slashes, dot segments, characters to refuse) returns undefined and goes
 * through the general algorithm, which would return this same path unchanged.
 */
function alreadyNormal(raw: string, options: ResolvedPathOptions): NormalizedPath | undefined {
  if (raw.length > options.maxLength || raw.charCodeAt(0) !== SLASH) return undefined;
  let end = raw.length;
  let segmentStart = 1;
  for (let i = 1; i <= raw.length; i++) {
    const code = i < raw.length ? raw.charCodeAt(i) : SLASH;
    if (code === QUESTION || code === HASH) {
      // The query is cut off, but a NUL anywhere is refused.
      if (raw.includes('\0', i)) return undefined;
      end = i;
    } else if (code !== SLASH) {
      if (code >= 128 || PLAIN[code] === 0) return undefined;
      continue;
    }
    const length = i - segmentStart;
    const atEnd = end !== raw.length || i === raw.length;
    if (length === 0 && !atEnd) return undefined;
    if (length === 1 && raw.charCodeAt(segmentStart) === DOT) return undefined;
    if (length === 2 && raw.charCodeAt(segmentStart) === DOT && raw.charCodeAt(segmentStart + 1) === DOT)
      return undefined;
    if (atEnd) break;
    segmentStart = i + 1;
  }
  const path = end === raw.length ? raw : raw.slice(0, end);
  return (options.caseSensitive ? path : path.toLowerCase()) as NormalizedPath;
}

function normalize(raw: string, options: ResolvedPathOptions): NormalizedPath {
  if (typeof raw !== 'string') throw new TypeError('a request path must be a string');
  const normal = alreadyNormal(raw, options);
  if (normal !== undefined) return normal;
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
  return result as NormalizedPath;
}

/** Checks the options once and returns a normalizer that applies them. */
export function createPathNormalizer(options: PathOptions = {}): (raw: string) => NormalizedPath {
  const resolved = checkOptions(options);
  return (raw) => normalize(raw, resolved);
}

/**
 * Normalizes a request path (origin-form request target) with the default, strictest options:
 * query and fragment removed, unreserved escapes decoded, dot segments removed, repeated slashes
 * merged; escaped slashes, backslashes, path parameters, null bytes and bad escapes refused.
 * Throws a LanyardError with code ERR_PATH_INVALID for a path it refuses.
 */
export const normalizePath: (raw: string) => NormalizedPath = createPathNormalizer();
