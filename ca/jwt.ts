import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import { exportJWK, SignJWT, type JWK } from 'jose';
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

/** Mints a JWT-SVID: ES256 with kid; sub is the SPIFFE ID; aud is required. */
export async function mintJwtSvid(
  key: JwtSigningKey,
  options: MintJwtOptions,
  request: MintJwtRequest,
): Promise<{ token: string; expiresAt: number }> {
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
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setSubject(request.spiffeId)
    .setAudience(audience.length === 1 ? audience[0]! : [...audience])
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(key.privateKey);
  return { token, expiresAt: exp * 1000 };
}
