import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';

/** Request headers as name/value pairs in arrival order, duplicates kept (like Node's rawHeaders). */
export type HeaderList = readonly (readonly [name: string, value: string])[];

/** The peer workload's SPIFFE ID, from its verified client certificate. */
export const PEER_ID_HEADER = 'x-lanyard-peer-id';
/** The end user's `sub`, from a verified token. */
export const USER_HEADER = 'x-lanyard-user';
/** The `iss` of the verified token: a subject is unique only within its issuer. */
export const USER_ISSUER_HEADER = 'x-lanyard-user-issuer';

/** Every header with this prefix is Lanyard's own: a client never sets one. */
export const RESERVED_PREFIX = 'x-lanyard-';
/** Identity headers of other meshes and proxies that an app may trust: always removed. */
export const FOREIGN_IDENTITY_HEADERS: readonly string[] = Object.freeze(['x-forwarded-client-cert']);
/** Headers that describe one connection (RFC 9110 §7.6.1): a proxy never forwards them. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers that a claim may never be copied into: framing, routing, credentials, forwarding. */
const FORBIDDEN_CLAIM_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'connection',
  'content-length',
  'content-type',
  'cookie',
  'expect',
  'forwarded',
  'host',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'set-cookie',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  ...FOREIGN_IDENTITY_HEADERS,
]);

/** RFC 9110 token: what a field name may be. Anything else (spaces, controls, non-ASCII) is not a name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Which claim goes into which header; `claim` is a top-level name, or a path into nested objects. */
export interface ClaimHeader {
  readonly claim: string | readonly string[];
  readonly header: string;
}

export interface HeaderPolicyOptions {
  /** Every header that any issuer's claim mapping may set: stripped from every request. */
  readonly claimHeaders?: readonly string[];
  /** Longest value set from an identity or claim. Default 1024, at most 8192. */
  readonly maxValueLength?: number;
}

export interface HeaderPolicy {
  readonly claimHeaders: ReadonlySet<string>;
  readonly maxValueLength: number;
}

/** The verified identity of a request; absent parts set no header. */
export interface VerifiedIdentity {
  /** The peer's SPIFFE ID (verified client certificate). */
  readonly peerId?: string;
  readonly user?: {
    readonly issuer: string;
    readonly subject?: string;
    readonly claims: { readonly [name: string]: unknown };
    /** The mappings of the issuer that verified this token. */
    readonly claimHeaders?: readonly ClaimHeader[];
  };
}

export type OmittedReason = 'missing' | 'unsupported-type' | 'empty' | 'too-long' | 'unsafe-characters';

export interface ForwardedHeaders {
  readonly headers: HeaderList;
  /** Lowercased names of the headers removed from the request (never their values). */
  readonly removed: readonly string[];
  /** Identity headers not set, and why (never the values). */
  readonly omitted: readonly { readonly header: string; readonly reason: OmittedReason }[];
}

/**
 * The form in which names are compared: ASCII lowercase, '_' as '-'. Many app stacks (CGI,
 * WSGI, PHP, some Node and Java frameworks) read X_Lanyard_User as X-Lanyard-User, so the
 * underscore spelling is treated as the same header.
 */
function comparable(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

/** Validates the options once, so per-request work is lookups only. */
export function compileHeaderPolicy(options: HeaderPolicyOptions = {}): HeaderPolicy {
  const maxValueLength = options.maxValueLength ?? 1024;
  if (!Number.isInteger(maxValueLength) || maxValueLength < 1 || maxValueLength > 8192) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      'maxValueLength must be an integer in [1, 8192]',
    );
  }
  const claimHeaders = new Set<string>();
  for (const header of options.claimHeaders ?? []) {
    if (typeof header !== 'string' || !TOKEN.test(header) || header.length > 256) {
      throw new LanyardError<CoreErrorCode>(
        'ERR_CONFIG_INVALID',
        'a claim header name is not a valid field name',
        {
          header: String(header).slice(0, 256),
        },
      );
    }
    const name = comparable(header);
    if (name.startsWith(RESERVED_PREFIX) || FORBIDDEN_CLAIM_HEADERS.has(name)) {
      throw new LanyardError<CoreErrorCode>(
        'ERR_CONFIG_INVALID',
        'a claim may not be copied into this header',
        {
          header,
        },
      );
    }
    claimHeaders.add(name);
  }
  return Object.freeze({ claimHeaders, maxValueLength });
}

function isIdentityHeader(name: string, policy: HeaderPolicy): boolean {
  const normalized = comparable(name);
  return (
    normalized.startsWith(RESERVED_PREFIX) ||
    FOREIGN_IDENTITY_HEADERS.includes(normalized) ||
    policy.claimHeaders.has(normalized)
  );
}

/** What stripIdentityHeaders does with a header name: keep it, or remove it and report it so. */
type NameVerdict = { keep: true } | { keep: false; reported: string };

function nameVerdict(name: string, policy: HeaderPolicy): NameVerdict {
  if (!TOKEN.test(name)) return { keep: false, reported: JSON.stringify(name.slice(0, 64)) };
  return isIdentityHeader(name, policy) ? { keep: false, reported: name.toLowerCase() } : { keep: true };
}

/**
 * Verdicts by header name, per policy: requests repeat the same few names, and the verdict
 * depends only on the name and the policy. Bounded: cleared when full.
 */
const verdicts = new WeakMap<HeaderPolicy, Map<string, NameVerdict>>();
const MAX_REMEMBERED_NAMES = 512;

function cachedNameVerdict(name: string, policy: HeaderPolicy): NameVerdict {
  let byName = verdicts.get(policy);
  if (!byName) verdicts.set(policy, (byName = new Map<string, NameVerdict>()));
  let verdict = byName.get(name);
  if (!verdict) {
    verdict = nameVerdict(name, policy);
    if (byName.size >= MAX_REMEMBERED_NAMES) byName.clear();
    byName.set(name, verdict);
  }
  return verdict;
}

/** A value holding CR, LF or NUL, which some parser might split into a second header. */
function breaksLine(value: string): boolean {
  return value.includes('\r') || value.includes('\n') || value.includes('\0');
}

/**
 * Removes every header that could carry a spoofed identity: all x-lanyard-*, the foreign
 * identity headers, and every configured claim header, compared case-insensitively and with
 * '_' as '-', every occurrence. Headers that are not well-formed at all are removed too: a
 * name that is not an RFC 9110 token (a trailing space, a tab, a control or non-ASCII
 * character that some parser might fold into a trusted name), and a value holding CR, LF or NUL.
 */
export function stripIdentityHeaders(
  headers: HeaderList,
  policy: HeaderPolicy,
): { headers: (readonly [string, string])[]; removed: string[] } {
  const kept: (readonly [string, string])[] = [];
  const removed: string[] = [];
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i]!;
    const verdict = cachedNameVerdict(header[0], policy);
    if (!verdict.keep) removed.push(verdict.reported);
    else if (breaksLine(header[1])) removed.push(header[0].toLowerCase());
    else kept.push(header);
  }
  return { headers: kept, removed };
}

function claimAt(claims: { readonly [name: string]: unknown }, path: string | readonly string[]): unknown {
  let value: unknown = claims;
  for (const step of typeof path === 'string' ? [path] : path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, step)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** Claim values as header text: strings, numbers and booleans; lists of those joined with ','. */
function claimText(value: unknown): string | undefined {
  if (!Array.isArray(value)) return scalarText(value);
  const parts = value.map(scalarText);
  if (parts.length === 0 || parts.some((part) => part === undefined)) return undefined;
  return parts.join(',');
}

/** Visible ASCII and inner spaces or tabs: no CR, LF, NUL, other controls, DEL or non-ASCII. */
function isSafeValue(value: string): boolean {
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x21 && code <= 0x7e) continue;
    const innerBlank = (code === 0x20 || code === 0x09) && i > 0 && i < last;
    if (!innerBlank) return false;
  }
  return last >= 0;
}

/**
 * Why a value may not be sent as is, or undefined when it may. Values are never altered: a
 * trimmed or filtered identity could name someone else, so an unsafe value sets no header.
 */
export function unsafeValueReason(value: string, maxLength: number): OmittedReason | undefined {
  if (value.length === 0) return 'empty';
  if (value.length > maxLength) return 'too-long';
  if (!isSafeValue(value)) return 'unsafe-characters';
  return undefined;
}

/**
 * The headers to forward to the app: the request's headers with every spoofable identity
 * header removed, then the verified ones appended (peer SPIFFE ID, user subject and issuer,
 * and the claims the issuer's mapping names). Throws a TypeError if a mapping names a header
 * the policy does not strip, since a client could then send a second copy.
 */
export function forwardHeaders(
  headers: HeaderList,
  identity: VerifiedIdentity,
  policy: HeaderPolicy,
): ForwardedHeaders {
  const stripped = stripIdentityHeaders(headers, policy);
  const added: AddedHeaders = { out: stripped.headers, omitted: [], maxValueLength: policy.maxValueLength };
  if (identity.peerId !== undefined) addHeader(added, PEER_ID_HEADER, identity.peerId);
  const { user } = identity;
  if (user) {
    addHeader(added, USER_ISSUER_HEADER, user.issuer);
    if (user.subject !== undefined) addHeader(added, USER_HEADER, user.subject);
    for (const { claim, header } of user.claimHeaders ?? []) {
      const name = comparable(header);
      if (!policy.claimHeaders.has(name))
        throw new TypeError(`claim header ${header} is not in the header policy`);
      const value = claimAt(user.claims, claim);
      addHeader(
        added,
        name,
        value === undefined ? undefined : claimText(value),
        value === undefined ? 'missing' : 'unsupported-type',
      );
    }
  }
  return { headers: added.out, removed: stripped.removed, omitted: added.omitted };
}

/** The headers forwardHeaders is building: verified ones appended, refused ones noted. */
interface AddedHeaders {
  readonly out: (readonly [string, string])[];
  readonly omitted: { header: string; reason: OmittedReason }[];
  readonly maxValueLength: number;
}

/** Appends a verified header, or notes why it is not set (`reason` when there is no value). */
function addHeader(
  added: AddedHeaders,
  header: string,
  value: string | undefined,
  reason: OmittedReason = 'missing',
): void {
  const problem = value === undefined ? reason : unsafeValueReason(value, added.maxValueLength);
  if (problem) added.omitted.push({ header, reason: problem });
  else added.out.push([header, value!]);
}

/** Node's flat rawHeaders ([name, value, name, value, ...]) as a HeaderList. */
export function fromRawHeaders(raw: readonly string[]): HeaderList {
  const list: (readonly [string, string])[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) list.push([raw[i]!, raw[i + 1]!]);
  return list;
}

export type BearerError =
  'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication';

export interface BearerChallenge {
  readonly realm?: string;
  readonly error?: BearerError;
  /** Free text: characters outside RFC 6750's allowed set are dropped, length bounded. */
  readonly errorDescription?: string;
  /** RFC 6750 scope tokens. */
  readonly scope?: readonly string[];
  /** RFC 9470 acr_values. */
  readonly acrValues?: readonly string[];
  /** RFC 9470 max_age, in seconds. */
  readonly maxAge?: number;
}

const MAX_TEXT = 256;
/** RFC 6750 §3: error_description and realm use %x20-21 / %x23-5B / %x5D-7E: no quote, no backslash. */
const NOT_DESCRIPTION_CHAR = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;
/** RFC 6750 scope-token (and acr values, which share the quoting): %x21 / %x23-5B / %x5D-7E. */
const CHALLENGE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;

function quotedText(value: string): string {
  return `"${value.replace(NOT_DESCRIPTION_CHAR, '').slice(0, MAX_TEXT)}"`;
}

function quotedTokens(name: string, values: readonly string[]): string {
  if (
    values.length === 0 ||
    !values.every((value) => typeof value === 'string' && CHALLENGE_TOKEN.test(value))
  ) {
    throw new TypeError(`${name} must be a non-empty list of tokens without spaces, quotes or backslashes`);
  }
  return `"${values.join(' ')}"`;
}

/**
 * A `WWW-Authenticate: Bearer` challenge (RFC 6750 §3, RFC 9470 §3). Free text is filtered to
 * the characters allowed inside its quotes, so no input can close the quote and add
 * parameters; token lists that do not fit throw a TypeError (they come from configuration).
 */
export function bearerChallenge(challenge: BearerChallenge = {}): string {
  const params: string[] = [];
  if (challenge.realm !== undefined) params.push(`realm=${quotedText(challenge.realm)}`);
  if (challenge.error !== undefined) params.push(`error="${challenge.error}"`);
  if (challenge.errorDescription !== undefined) {
    params.push(`error_description=${quotedText(challenge.errorDescription)}`);
  }
  if (challenge.scope !== undefined) params.push(`scope=${quotedTokens('scope', challenge.scope)}`);
  if (challenge.acrValues !== undefined)
    params.push(`acr_values=${quotedTokens('acrValues', challenge.acrValues)}`);
  if (challenge.maxAge !== undefined) {
    if (!Number.isSafeInteger(challenge.maxAge) || challenge.maxAge < 0) {
      throw new TypeError('maxAge must be a non-negative integer');
    }
    params.push(`max_age="${challenge.maxAge}"`);
  }
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
}

/** RFC 6750 §3.1: a request with no token gets a challenge with no error code. */
export function missingTokenChallenge(realm?: string): string {
  return bearerChallenge(realm === undefined ? {} : { realm });
}

/** RFC 6750 §3.1: the token was refused (malformed, expired, bad signature, ...). */
export function invalidTokenChallenge(description?: string, realm?: string): string {
  return bearerChallenge({
    error: 'invalid_token',
    ...(description === undefined ? {} : { errorDescription: description }),
    ...(realm === undefined ? {} : { realm }),
  });
}

/** RFC 9470 step-up: the token is valid but its authentication is too weak or too old. */
export function stepUpChallenge(options: {
  readonly acrValues?: readonly string[];
  readonly maxAge?: number;
  readonly description?: string;
  readonly realm?: string;
}): string {
  if (options.acrValues === undefined && options.maxAge === undefined) {
    throw new TypeError('a step-up challenge needs acrValues, maxAge or both');
  }
  return bearerChallenge({
    ...(options.realm === undefined ? {} : { realm: options.realm }),
    error: 'insufficient_user_authentication',
    errorDescription: options.description ?? 'A stronger or more recent authentication is required',
    ...(options.acrValues === undefined ? {} : { acrValues: options.acrValues }),
    ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
  });
}
