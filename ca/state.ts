import type { AuthorityMaterial } from './authority.ts';
import { caError } from './errors.ts';

/** One CA generation as stored, with the times that drive its A/B rotation. */
export interface AuthorityRecord extends AuthorityMaterial {
  readonly createdAt: number;
  /** Supplied by the operator: Lanyard never rotates it itself. */
  readonly external?: boolean;
  /** When a retiring authority may leave the bundle: after the last leaf it signed expires. */
  readonly retireAt?: number;
}

/** One JWT-SVID signing key (ES256, PKCS#8 PEM). */
export interface JwtKeyRecord {
  readonly kid: string;
  readonly privateKeyPem: string;
  readonly createdAt: number;
  /** When a previous key may leave the JWKS: after the last token it signed expires. */
  readonly retireAt?: number;
}

/** Everything the CA keeps in its key store: one document, so one write is atomic. */
export interface CaState {
  readonly version: 1;
  readonly active: AuthorityRecord;
  readonly next?: AuthorityRecord;
  readonly retiring?: AuthorityRecord;
  readonly jwtCurrent: JwtKeyRecord;
  readonly jwtPrevious?: JwtKeyRecord;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isAuthority(value: unknown): value is AuthorityRecord {
  return (
    isRecord(value) &&
    typeof value.rootPem === 'string' &&
    typeof value.signerCertPem === 'string' &&
    typeof value.signerKeyPem === 'string' &&
    Array.isArray(value.chainPems) &&
    value.chainPems.every((pem) => typeof pem === 'string') &&
    typeof value.createdAt === 'number'
  );
}

function isJwtKey(value: unknown): value is JwtKeyRecord {
  return (
    isRecord(value) &&
    typeof value.kid === 'string' &&
    typeof value.privateKeyPem === 'string' &&
    typeof value.createdAt === 'number'
  );
}

export function serializeState(state: CaState): string {
  return JSON.stringify(state);
}

/** Parses a stored state, checking its shape; the key material itself is checked when loaded. */
export function parseState(text: string): CaState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw caError('ERR_CA_KEY_MATERIAL_INVALID', 'stored CA state is not JSON');
  }
  const ok =
    isRecord(value) &&
    value.version === 1 &&
    isAuthority(value.active) &&
    (value.next === undefined || isAuthority(value.next)) &&
    (value.retiring === undefined || isAuthority(value.retiring)) &&
    isJwtKey(value.jwtCurrent) &&
    (value.jwtPrevious === undefined || isJwtKey(value.jwtPrevious));
  if (!ok) throw caError('ERR_CA_KEY_MATERIAL_INVALID', 'stored CA state has an unexpected shape');
  return value as CaState;
}
