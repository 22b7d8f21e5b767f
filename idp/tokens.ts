import { createHash, randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Clock } from '../lib/clock.ts';
import { LanyardError } from '../lib/errors.ts';
import { idpError } from './errors.ts';
import type { SigningKeys } from './keys.ts';
import type { RefreshTokens } from './refresh.ts';
import type { IdpStore, UserRecord } from './store/types.ts';

export const ACR_PASSWORD = 'urn:lanyard:acr:pwd';
export const ACR_MFA = 'urn:lanyard:acr:mfa';

export interface TokenLifetimes {
  /** 5 to 15 minutes. */
  accessTokenMs: number;
  idTokenMs: number;
}

export const DEFAULT_TOKEN_LIFETIMES: TokenLifetimes = Object.freeze({
  accessTokenMs: 10 * 60_000,
  idTokenMs: 10 * 60_000,
});

export function checkTokenLifetimes(lifetimes: TokenLifetimes): void {
  if (lifetimes.accessTokenMs < 5 * 60_000 || lifetimes.accessTokenMs > 15 * 60_000) {
    throw new LanyardError('ERR_CONFIG_INVALID', 'the access token lifetime must be 5 to 15 minutes');
  }
  if (lifetimes.idTokenMs < 60_000 || lifetimes.idTokenMs > 60 * 60_000) {
    throw new LanyardError('ERR_CONFIG_INVALID', 'the ID token lifetime must be 1 to 60 minutes');
  }
}

/** What the user proved at login; carried by codes and refresh families into every token. */
export interface Authentication {
  amr: string[];
  authTime: number;
}

export function acrOf(amr: readonly string[]): string {
  return amr.includes('mfa') ? ACR_MFA : ACR_PASSWORD;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  id_token: string;
  scope: string;
}

/** Issues ES256 access and ID tokens and drives refresh-token rotation. */
export class TokenService {
  constructor(
    private readonly issuer: string,
    private readonly store: IdpStore,
    private readonly keys: SigningKeys,
    private readonly refresh: RefreshTokens,
    private readonly clock: Clock,
    private readonly lifetimes: TokenLifetimes = DEFAULT_TOKEN_LIFETIMES,
  ) {
    checkTokenLifetimes(lifetimes);
  }

  private async sign(payload: JWTPayload, typ: string, ttlMs: number): Promise<string> {
    const { kid, key } = this.keys.signingKey();
    const now = Math.floor(this.clock.now() / 1000);
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', kid, typ })
      .setIssuer(this.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + Math.floor(ttlMs / 1000))
      .sign(key);
  }

  private accessToken(
    user: UserRecord,
    clientId: string,
    scope: string,
    auth: Authentication,
  ): Promise<string> {
    return this.sign(
      {
        sub: user.id,
        aud: clientId,
        client_id: clientId,
        jti: randomUUID(),
        scope,
        roles: user.roles,
        groups: user.groups,
        amr: auth.amr,
        acr: acrOf(auth.amr),
        auth_time: Math.floor(auth.authTime / 1000),
        preferred_username: user.username,
      },
      'at+jwt',
      this.lifetimes.accessTokenMs,
    );
  }

  private async idToken(
    user: UserRecord,
    clientId: string,
    auth: Authentication,
    nonce: string | null,
    accessToken: string,
  ): Promise<string> {
    // OIDC Core 3.1.3.6: at_hash is the left half of the SHA-256 of the access token.
    const digest = createHash('sha256').update(accessToken).digest();
    return this.sign(
      {
        sub: user.id,
        aud: clientId,
        azp: clientId,
        amr: auth.amr,
        acr: acrOf(auth.amr),
        auth_time: Math.floor(auth.authTime / 1000),
        at_hash: digest.subarray(0, 16).toString('base64url'),
        preferred_username: user.username,
        ...(nonce !== null && { nonce }),
      },
      'JWT',
      this.lifetimes.idTokenMs,
    );
  }

  private async respond(
    user: UserRecord,
    clientId: string,
    scope: string,
    auth: Authentication,
    nonce: string | null,
    refreshToken: string,
  ): Promise<TokenResponse> {
    const accessToken = await this.accessToken(user, clientId, scope, auth);
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: Math.floor(this.lifetimes.accessTokenMs / 1000),
      refresh_token: refreshToken,
      id_token: await this.idToken(user, clientId, auth, nonce, accessToken),
      scope,
    };
  }

  /** Tokens for a redeemed authorization code: a new refresh-token family starts here. */
  async forCode(grant: {
    userId: string;
    clientId: string;
    scope: string;
    nonce: string | null;
    auth: Authentication;
  }): Promise<TokenResponse> {
    const user = await this.store.userById(grant.userId);
    if (!user || user.disabled) throw idpError('ERR_IDP_GRANT_INVALID', 'the authorization code is invalid');
    const { token } = await this.refresh.start({
      userId: user.id,
      clientId: grant.clientId,
      scope: grant.scope,
      amr: grant.auth.amr,
      authTime: grant.auth.authTime,
    });
    return this.respond(user, grant.clientId, grant.scope, grant.auth, grant.nonce, token);
  }

  /** Rotates the refresh token; roles and groups come fresh from the user's record. */
  async forRefresh(refreshToken: string, clientId: string): Promise<TokenResponse> {
    const { token, family } = await this.refresh.rotate(refreshToken, clientId);
    const user = await this.store.userById(family.userId);
    if (!user) throw idpError('ERR_IDP_GRANT_INVALID', 'the refresh token is invalid');
    const auth = { amr: family.amr, authTime: family.authTime };
    return this.respond(user, clientId, family.scope, auth, null, token);
  }

  get accessTokenMs(): number {
    return this.lifetimes.accessTokenMs;
  }

  /** An access token with an explicit expiry (seconds): token exchange bounds it by its subject token's. */
  async signAccessToken(payload: JWTPayload, expiresAt: number): Promise<string> {
    const { kid, key } = this.keys.signingKey();
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setIssuedAt(Math.floor(this.clock.now() / 1000))
      .setExpirationTime(expiresAt)
      .sign(key);
  }

  /** Verifies one of our own access tokens (for /userinfo and as a token-exchange subject). */
  async verifyAccessToken(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(this.keys.jwks()), {
        issuer: this.issuer,
        algorithms: ['ES256'],
        typ: 'at+jwt',
        currentDate: new Date(this.clock.now()),
      });
      return payload;
    } catch {
      throw idpError('ERR_IDP_GRANT_INVALID', 'the access token is invalid or expired');
    }
  }
}
