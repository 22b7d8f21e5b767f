import { sidecarError } from '../errors.ts';
import type { JsonObject } from './json.ts';

export interface ClaimRules {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly nowMs: number;
  readonly clockSkewMs: number;
}

function numericDate(claims: JsonObject, name: 'exp' | 'nbf' | 'iat', required: boolean): number | undefined {
  const value = claims[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw sidecarError('ERR_JWT_CLAIM_INVALID', {
      claim: name,
      reason: value === undefined ? 'missing' : 'not a number',
    });
  }
  return value * 1000;
}

function audiencesOf(claims: JsonObject): readonly string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.length > 0 && aud.every((entry) => typeof entry === 'string')) return aud;
  throw sidecarError('ERR_JWT_AUDIENCE', {
    reason: aud === undefined ? 'missing' : 'not a string or a list of strings',
  });
}

/**
 * Checks the registered claims of a token whose signature is verified: `iss` equal to the
 * issuer; `aud` present and sharing at least one value with the accepted audiences; `exp`
 * required and in the future; `nbf` and `iat`, when present, not in the future; `sub`, when
 * present, a string. Times allow `clockSkewMs` either way.
 */
export function checkClaims(claims: JsonObject, rules: ClaimRules): void {
  if (claims.iss !== rules.issuer)
    throw sidecarError('ERR_JWT_ISSUER_UNKNOWN', { reason: 'iss does not match' });
  const exp = numericDate(claims, 'exp', true)!;
  const nbf = numericDate(claims, 'nbf', false);
  const iat = numericDate(claims, 'iat', false);
  if (claims.sub !== undefined && typeof claims.sub !== 'string') {
    throw sidecarError('ERR_JWT_CLAIM_INVALID', { claim: 'sub', reason: 'not a string' });
  }
  const { nowMs, clockSkewMs } = rules;
  if (nowMs >= exp + clockSkewMs) throw sidecarError('ERR_JWT_EXPIRED', { expiredForMs: nowMs - exp });
  if (nbf !== undefined && nowMs + clockSkewMs < nbf)
    throw sidecarError('ERR_JWT_NOT_YET_VALID', { claim: 'nbf' });
  if (iat !== undefined && nowMs + clockSkewMs < iat)
    throw sidecarError('ERR_JWT_NOT_YET_VALID', { claim: 'iat' });
  const accepted = new Set(rules.audiences);
  if (!audiencesOf(claims).some((aud) => accepted.has(aud))) {
    throw sidecarError('ERR_JWT_AUDIENCE', { reason: 'no accepted audience' });
  }
}
