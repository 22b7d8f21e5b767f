// Who is calling the token-exchange grant: a mesh workload, proven by its X.509-SVID (mTLS) or a
// JWT-SVID client assertion (RFC 7523). What the request body says about the caller never counts.
import { readFileSync, statSync } from 'node:fs';
import type { X509Certificate } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Clock } from '../lib/clock.ts';
import { isLanyardError } from '../lib/errors.ts';
import { verifyPeer } from '../lib/peer.ts';
import { parseSpiffeId, type SpiffeId } from '../lib/spiffe.ts';
import { idpError } from './errors.ts';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** JWT-SVIDs live 5 minutes by default; an assertion valid for longer is refused. */
export const MAX_ASSERTION_TTL_MS = 5 * 60_000;
const CLOCK_TOLERANCE_S = 30;
const MAX_JWKS_FILE_BYTES = 1024 * 1024;

const refuse = (message: string): never => {
  throw idpError('ERR_IDP_WORKLOAD_AUTH_FAILED', message);
};

/**
 * Remembers JWT-SVID IDs until their token expires, so each assertion is used once. Bounded:
 * when full of live entries it refuses new ones (fail closed) rather than forget one.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries = 100_000,
  ) {}

  /** True the first time `key` is seen before `expiresAt`; false for a replay. */
  use(key: string, expiresAt: number): boolean {
    const now = this.clock.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.maxEntries) {
      for (const [entry, expiry] of this.seen) if (expiry <= now) this.seen.delete(entry);
      if (this.seen.size >= this.maxEntries) refuse('too many recent assertions; retry shortly');
    }
    this.seen.set(key, expiresAt);
    return true;
  }
}

/** The mesh CA's JWT-SVID keys: its JWKS endpoint (https, or http on loopback) or a JWKS file. */
export type MeshJwksSource = { url: string } | { file: string };

export function meshJwks(source: MeshJwksSource): JWTVerifyGetKey {
  if ('url' in source) {
    const url = new URL(source.url);
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw idpError('ERR_IDP_REQUEST_INVALID', 'the mesh JWKS URL must be https (or http on loopback)');
    }
    return createRemoteJWKSet(url, {
      timeoutDuration: 5_000,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
    });
  }
  // Re-read when the file changes: the CA rotates its JWT key and whoever mounts the file updates it.
  let loaded: { mtimeMs: number; size: number; keys: JWTVerifyGetKey } | null = null;
  return (header, token) => {
    const stat = statSync(source.file);
    if (stat.size > MAX_JWKS_FILE_BYTES) refuse('the mesh JWKS file is too large');
    if (!loaded || loaded.mtimeMs !== stat.mtimeMs || loaded.size !== stat.size) {
      const jwks = JSON.parse(readFileSync(source.file, 'utf8')) as JSONWebKeySet;
      loaded = { mtimeMs: stat.mtimeMs, size: stat.size, keys: createLocalJWKSet(jwks) };
    }
    return loaded.keys(header, token);
  };
}

export interface WorkloadAuthOptions {
  /** Only identities of this trust domain are accepted. */
  trustDomain: string;
  /** Accepted `aud` values of an assertion: the token endpoint URL and the issuer. */
  audiences: string[];
  /** Null: JWT-SVID assertions are not accepted (mTLS only). */
  jwks: JWTVerifyGetKey | null;
  /** When set, an assertion's `iss` must equal it. */
  jwtIssuer?: string;
  clock: Clock;
  replay: ReplayCache;
}

/** What the connection and the request offer as proof; the adapter fills it in. */
export interface WorkloadProof {
  /** The client certificate of a TLS connection, if one was sent. */
  peerCertificate: X509Certificate | null;
  /** Whether the TLS layer verified that certificate against the trust bundle. */
  peerAuthorized: boolean;
  assertionType: string | undefined;
  assertion: string | undefined;
}

function fromCertificate(proof: WorkloadProof, trustDomain: string): SpiffeId {
  // A certificate the TLS layer did not verify is never an identity, however it looks.
  if (!proof.peerAuthorized) refuse('the client certificate does not chain to the mesh trust bundle');
  const verdict = verifyPeer(proof.peerCertificate!, {
    trustDomains: new Set([trustDomain]),
    role: 'client',
  });
  if (!verdict.ok) return refuse(verdict.reason);
  return verdict.id;
}

async function fromAssertion(assertion: string, options: WorkloadAuthOptions): Promise<SpiffeId> {
  if (!options.jwks) return refuse('JWT-SVID client assertions are not accepted here');
  if (assertion.length > 8192) refuse('the client assertion is too long');
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(assertion).typ;
  } catch {
    return refuse('the client assertion is not a JWT');
  }
  // An access token of ours (at+jwt) must never pass for a workload's assertion.
  if (typ !== undefined && typ !== 'JWT') refuse('the client assertion is not a JWT-SVID');
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, options.jwks, {
      algorithms: ['ES256'],
      audience: options.audiences,
      ...(options.jwtIssuer !== undefined && { issuer: options.jwtIssuer }),
      currentDate: new Date(options.clock.now()),
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['sub', 'exp', 'jti'],
    }));
  } catch (error) {
    if (isLanyardError(error)) throw error;
    return refuse('the client assertion is invalid, expired, or for another audience');
  }
  const nowS = options.clock.now() / 1000;
  if (payload.exp! - nowS > MAX_ASSERTION_TTL_MS / 1000 + CLOCK_TOLERANCE_S) {
    refuse('the client assertion lives longer than 5 minutes');
  }
  let id: SpiffeId;
  try {
    id = parseSpiffeId(String(payload.sub));
  } catch {
    return refuse('the client assertion subject is not a SPIFFE ID');
  }
  if (id.trustDomain !== options.trustDomain) refuse(`trust domain "${id.trustDomain}" is not trusted`);
  const jti = String(payload.jti);
  if (jti.length > 256) refuse('the client assertion jti is too long');
  if (!options.replay.use(`${payload.iss ?? ''}\n${jti}`, payload.exp! * 1000 + CLOCK_TOLERANCE_S * 1000)) {
    refuse('the client assertion was already used');
  }
  return id;
}

/**
 * The workload's SPIFFE ID from its client certificate and/or JWT-SVID assertion. When both are
 * presented they must name the same workload. Neither: refused.
 */
export async function authenticateWorkload(
  proof: WorkloadProof,
  options: WorkloadAuthOptions,
): Promise<SpiffeId> {
  const byCertificate = proof.peerCertificate ? fromCertificate(proof, options.trustDomain) : null;
  let byAssertion: SpiffeId | null = null;
  if (proof.assertion !== undefined || proof.assertionType !== undefined) {
    if (proof.assertionType !== JWT_BEARER_ASSERTION || proof.assertion === undefined) {
      refuse(`client_assertion_type must be ${JWT_BEARER_ASSERTION} with a client_assertion`);
    }
    byAssertion = await fromAssertion(proof.assertion!, options);
  }
  if (byCertificate && byAssertion && byCertificate.toString() !== byAssertion.toString()) {
    refuse('the client certificate and the client assertion name different workloads');
  }
  const id = byCertificate ?? byAssertion;
  if (!id) return refuse('token exchange needs a client certificate or a JWT-SVID client assertion');
  return id;
}
