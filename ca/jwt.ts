import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  type KeyObject,
} from 'node:crypto';
import { exportJWK, type JWK } from 'jose';
import { caError } from './errors.ts';
import type { JwtKeyRecord } from './state.ts';

export const DEFAULT_JWT_TTL_MS = 5 * 60_000;

/** A new ES256 signing key; its kid is the RFC 7638 thumbprint prefix, stable across replicas. */
export function generateJwtKey(now: number): JwtKeyRecord {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const thumbprint = createHash('sha256')
    .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
    .digest('base64url');
  return {
    kid: thumbprint.slice(0, 22),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    createdAt: now,
  };
}

export interface JwtSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: JWK;
}

export async function loadJwtKey(record: JwtKeyRecord): Promise<JwtSigningKey> {
  const privateKey = createPrivateKey(record.privateKeyPem);
  // ES256 is all that mintJwtSvid writes in the header.
  if (privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw caError('ERR_CA_KEY_MATERIAL_INVALID', 'the JWT signing key is not an ECDSA P-256 key', {
      kid: record.kid,
    });
  }
  const jwk = await exportJWK(createPublicKey(privateKey));
  return { kid: record.kid, privateKey, jwk: { ...jwk, kid: record.kid, alg: 'ES256', use: 'sig' } };
}

export interface MintJwtRequest {
  readonly spiffeId: string;
  readonly audience: readonly string[];
  readonly ttlMs?: number;
  readonly now: number;
}

export interface MintJwtOptions {
  readonly issuer: string;
  /** The longest lifetime a caller may ask for; default 5 minutes. */
  readonly maxTtlMs: number;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Mints a JWT-SVID: ES256 with kid; sub is the SPIFFE ID; aud is required. Signed with
 * node:crypto directly: jose's WebCrypto path converts the key and hops to the thread pool on
 * every token, which cost more than the signature.
 */
export function mintJwtSvid(
  key: JwtSigningKey,
  options: MintJwtOptions,
  request: MintJwtRequest,
): { token: string; expiresAt: number } {
  const audience = request.audience.filter((value) => value.length > 0);
  if (audience.length === 0)
    throw caError('ERR_CA_AUDIENCE_REQUIRED', 'a JWT-SVID needs at least one audience');
  if (audience.some((value) => value.length > 512) || audience.length > 16) {
    throw caError('ERR_CA_REQUEST_INVALID', 'too many or too long audiences');
  }
  const ttl = Math.min(
    options.maxTtlMs,
    request.ttlMs && request.ttlMs > 0 ? request.ttlMs : options.maxTtlMs,
  );
  const iat = Math.floor(request.now / 1000);
  const exp = Math.floor((request.now + ttl) / 1000);
  const header = base64url({ alg: 'ES256', kid: key.kid, typ: 'JWT' });
  const claims = base64url({
    iss: options.issuer,
    sub: request.spiffeId,
    aud: audience.length === 1 ? audience[0]! : audience,
    iat,
    exp,
    jti: randomUUID(),
  });
  const signingInput = `${header}.${claims}`;
  // JWS ES256 (RFC 7518 3.4): R || S, 32 bytes each, not DER.
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return { token: `${signingInput}.${signature.toString('base64url')}`, expiresAt: exp * 1000 };
}
