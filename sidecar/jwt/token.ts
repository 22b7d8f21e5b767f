import { sidecarError } from '../errors.ts';
import { isSupportedAlgorithm, type JwsAlgorithm } from './algorithms.ts';
import { parseStrictJsonObject, type JsonLimits, type JsonObject } from './json.ts';
import { isWellFormedKid } from './keyset.ts';

/** The parts of a compact JWS that were checked for shape but NOT yet verified. */
export interface UnverifiedToken {
  readonly alg: JwsAlgorithm;
  readonly kid: string;
  /** The issuer named by the unverified payload: used only to choose which keys to verify with. */
  readonly iss: string | undefined;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const HEADER_LIMITS: JsonLimits = { maxMembers: 32, maxDepth: 4 };
/** Header members whose meaning changes how the token is processed: refused, none is understood. */
const UNDERSTOOD_NONE = ['crit', 'b64', 'zip'] as const;

function canonicalBase64url(segment: string): Buffer | undefined {
  if (!SEGMENT.test(segment) || segment.length % 4 === 1) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

/**
 * Decodes one base64url segment strictly: the URL-safe alphabet only, no padding, and the
 * canonical encoding (unused trailing bits zero), so that one token has exactly one spelling.
 */
export function decodeSegment(segment: string): string | undefined {
  const bytes = canonicalBase64url(segment);
  if (!bytes) return undefined;
  const text = bytes.toString('utf8');
  // Invalid UTF-8 decodes to U+FFFD: refuse it rather than read a different text than was signed.
  if (!Buffer.from(text, 'utf8').equals(bytes)) return undefined;
  return text;
}

function decodeObject(segment: string, limits: JsonLimits, part: string): JsonObject {
  const text = decodeSegment(segment);
  if (text === undefined)
    throw sidecarError('ERR_JWT_MALFORMED', { reason: `${part} is not canonical base64url UTF-8` });
  const parsed = parseStrictJsonObject(text, limits);
  if (!parsed.ok) throw sidecarError('ERR_JWT_MALFORMED', { reason: `${part}: ${parsed.reason}` });
  return parsed.value;
}

/**
 * Checks the shape of a compact JWS before any key is looked up: size, exactly three
 * segments, strict base64url and JSON in header and payload, an allowed `alg`, a well-formed
 * `kid`, and no header member that is not understood. `jku`, `x5u`, `jwk` and `x5c` are never
 * read: keys come only from the issuer configuration.
 */
export function inspectToken(token: string, maxLength: number, payloadLimits: JsonLimits): UnverifiedToken {
  if (typeof token !== 'string') throw new TypeError('a token must be a string');
  if (token.length > maxLength) throw sidecarError('ERR_JWT_TOO_LARGE', { length: token.length, maxLength });
  const segments = token.split('.');
  if (segments.length !== 3) throw sidecarError('ERR_JWT_MALFORMED', { reason: 'not three segments' });
  const [headerSegment, payloadSegment, signature] = segments as [string, string, string];
  const header = decodeObject(headerSegment, HEADER_LIMITS, 'header');
  if (!isSupportedAlgorithm(header.alg)) {
    throw sidecarError('ERR_JWT_ALG_NOT_ALLOWED', {
      alg: typeof header.alg === 'string' ? header.alg.slice(0, 32) : typeof header.alg,
    });
  }
  for (const member of UNDERSTOOD_NONE) {
    if (Object.hasOwn(header, member)) throw sidecarError('ERR_JWT_HEADER_UNSUPPORTED', { member });
  }
  if (header.kid === undefined) throw sidecarError('ERR_JWT_KEY_NOT_FOUND', { reason: 'no kid' });
  if (!isWellFormedKid(header.kid))
    throw sidecarError('ERR_JWT_MALFORMED', { reason: 'kid is not a short printable string' });
  if (!canonicalBase64url(signature)) {
    throw sidecarError('ERR_JWT_MALFORMED', { reason: 'signature is not base64url' });
  }
  const payload = decodeObject(payloadSegment, payloadLimits, 'payload');
  return { alg: header.alg, kid: header.kid, iss: typeof payload.iss === 'string' ? payload.iss : undefined };
}
