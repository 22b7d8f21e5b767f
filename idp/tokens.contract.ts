import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../test/helpers/clock.ts';
import { Auditor } from './audit.ts';
import { SigningKeys } from './keys.ts';
import { RefreshTokens } from './refresh.ts';
import { createSecretBox } from './secret-box.ts';
import type { IdpStore, UserRecord } from './store/types.ts';
import { ACR_MFA, ACR_PASSWORD, TokenService } from './tokens.ts';

const ISSUER = 'https://login.test.example';
const MINUTE = 60_000;

/** Token issuance and refresh rotation over a real store; run against every adapter. */
export function describeTokenContract(name: string, open: () => Promise<IdpStore>): void {
  describe(`tokens and refresh rotation: ${name}`, () => {
    let store: IdpStore;
    const clock = new FakeClock(Date.UTC(2026, 5, 1));
    let keys: SigningKeys;
    let tokens: TokenService;
    let counter = 0;

    beforeAll(async () => {
      store = await open();
      await store.migrate();
      keys = new SigningKeys(store, createSecretBox(randomBytes(32)), clock, {
        rotateAfterMs: 7 * 24 * 60 * MINUTE,
        overlapMs: 24 * 60 * MINUTE,
      });
      await keys.refresh();
      const audit = new Auditor(store, clock, silentLogger, new Registry());
      const refresh = new RefreshTokens(store, clock, audit, {
        idleMs: 60 * MINUTE,
        absoluteMs: 8 * 60 * MINUTE,
      });
      tokens = new TokenService(ISSUER, store, keys, refresh, clock);
    });
    afterAll(async () => {
      await store.close();
    });

    async function newUser(): Promise<UserRecord> {
      const user: UserRecord = {
        id: `tok-${Date.now()}-${++counter}`,
        username: `tok-user-${Date.now()}-${counter}`,
        passwordHash: 'x',
        roles: ['manager'],
        groups: ['shop'],
        disabled: false,
        createdAt: 0,
      };
      await store.createUser(user);
      return user;
    }

    const mfaLogin = (user: UserRecord, clientId = 'web') =>
      tokens.forCode({
        userId: user.id,
        clientId,
        scope: 'openid profile',
        nonce: 'n-0S6_WzA2Mj',
        auth: { amr: ['pwd', 'otp', 'mfa'], authTime: clock.now() },
      });

    const verify = (token: string) =>
      jwtVerify(token, createLocalJWKSet(keys.jwks()), {
        issuer: ISSUER,
        currentDate: new Date(clock.now()),
      });

    it('issues an ES256 access token for the client with roles, groups, amr and acr, living 10 minutes', async () => {
      const user = await newUser();
      const response = await mfaLogin(user);
      const { payload, protectedHeader } = await verify(response.access_token);
      expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: keys.signingKey().kid });
      expect(payload).toMatchObject({
        iss: ISSUER,
        sub: user.id,
        aud: 'web',
        roles: ['manager'],
        groups: ['shop'],
        amr: ['pwd', 'otp', 'mfa'],
        acr: ACR_MFA,
        scope: 'openid profile',
      });
      expect(payload.exp! - payload.iat!).toBe(600);
      expect(response.expires_in).toBe(600);
      expect(response.refresh_token).toMatch(/^lrt_[\w-]{43}$/);
      expect(await store.refreshToken(response.refresh_token)).toBeNull(); // stored hashed only
    });

    it('issues an ID token with the nonce and at_hash', async () => {
      const response = await mfaLogin(await newUser());
      const { payload } = await verify(response.id_token);
      expect(payload).toMatchObject({ aud: 'web', nonce: 'n-0S6_WzA2Mj', acr: ACR_MFA });
      expect(typeof payload.at_hash).toBe('string');
    });

    it('marks a password-only login with acr pwd', async () => {
      const user = await newUser();
      const response = await tokens.forCode({
        userId: user.id,
        clientId: 'web',
        scope: 'openid',
        nonce: null,
        auth: { amr: ['pwd'], authTime: clock.now() },
      });
      const { payload } = await verify(response.access_token);
      expect(payload).toMatchObject({ amr: ['pwd'], acr: ACR_PASSWORD });
    });

    it('rotates the refresh token on every use and keeps amr and fresh roles', async () => {
      const user = await newUser();
      const first = await mfaLogin(user);
      const second = await tokens.forRefresh(first.refresh_token, 'web');
      expect(second.refresh_token).not.toBe(first.refresh_token);
      const third = await tokens.forRefresh(second.refresh_token, 'web');
      expect((await verify(third.access_token)).payload).toMatchObject({
        sub: user.id,
        amr: ['pwd', 'otp', 'mfa'],
      });
    });

    it('revokes the whole family when a rotated token is reused, and records a security event', async () => {
      const user = await newUser();
      const first = await mfaLogin(user);
      const second = await tokens.forRefresh(first.refresh_token, 'web');
      await expect(tokens.forRefresh(first.refresh_token, 'web')).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
      await expect(tokens.forRefresh(second.refresh_token, 'web')).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
      const events = await store.listAudit({ limit: 50 });
      expect(events.find((e) => e.userId === user.id && e.event === 'refresh_token_reuse')).toMatchObject({
        outcome: 'security',
      });
    });

    it('lets at most one of concurrent redemptions of one refresh token succeed', async () => {
      for (let round = 0; round < 3; round++) {
        const first = await mfaLogin(await newUser());
        const results = await Promise.allSettled(
          Array.from({ length: 4 }, () => tokens.forRefresh(first.refresh_token, 'web')),
        );
        expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(1);
        for (const result of results) {
          if (result.status === 'rejected')
            expect(result.reason).toMatchObject({ code: 'ERR_IDP_GRANT_INVALID' });
        }
      }
    });

    it('refuses a refresh token after its idle lifetime', async () => {
      const first = await mfaLogin(await newUser());
      clock.advance(61 * MINUTE);
      await expect(tokens.forRefresh(first.refresh_token, 'web')).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
    });

    it('refuses a refreshed family after its absolute lifetime, however often it was used', async () => {
      let response = await mfaLogin(await newUser());
      for (let hour = 0; hour < 8; hour++) {
        clock.advance(59 * MINUTE);
        response = await tokens.forRefresh(response.refresh_token, 'web');
      }
      clock.advance(59 * MINUTE);
      await expect(tokens.forRefresh(response.refresh_token, 'web')).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
    });

    it('refuses a token shown by another client without spending it', async () => {
      const first = await mfaLogin(await newUser());
      await expect(tokens.forRefresh(first.refresh_token, 'other')).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
      expect((await tokens.forRefresh(first.refresh_token, 'web')).refresh_token).toMatch(/^lrt_/);
    });

    it('refuses to refresh for a disabled user', async () => {
      const user = await newUser();
      const first = await mfaLogin(user);
      await store.setUserDisabled(user.id, true);
      await expect(tokens.forRefresh(first.refresh_token, 'web')).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
    });

    it('rotates signing keys with overlap: old tokens verify until the old key leaves the JWKS', async () => {
      const before = await mfaLogin(await newUser());
      const oldKid = decodeProtectedHeader(before.access_token).kid;
      const newKid = await keys.rotate();
      expect(newKid).not.toBe(oldKid);
      const after = await mfaLogin(await newUser());
      expect(decodeProtectedHeader(after.access_token).kid).toBe(newKid);
      expect(keys.jwks().keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
      expect(keys.jwks().keys.every((k) => k.d === undefined)).toBe(true);
      await verify(before.access_token);
      clock.advance(24 * 60 * MINUTE);
      await keys.refresh();
      expect(keys.jwks().keys.map((k) => k.kid)).not.toContain(oldKid);
    });

    it('verifies its own access tokens for userinfo and refuses expired ones', async () => {
      const response = await mfaLogin(await newUser());
      expect((await tokens.verifyAccessToken(response.access_token)).aud).toBe('web');
      await expect(tokens.verifyAccessToken(response.id_token)).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
      clock.advance(11 * MINUTE);
      await expect(tokens.verifyAccessToken(response.access_token)).rejects.toMatchObject({
        code: 'ERR_IDP_GRANT_INVALID',
      });
    });

    it('refuses access token lifetimes outside 5 to 15 minutes', () => {
      const refresh = new RefreshTokens(
        store,
        clock,
        new Auditor(store, clock, silentLogger, new Registry()),
        {
          idleMs: 1,
          absoluteMs: 1,
        },
      );
      for (const accessTokenMs of [4 * MINUTE, 16 * MINUTE]) {
        expect(
          () => new TokenService(ISSUER, store, keys, refresh, clock, { accessTokenMs, idTokenMs: MINUTE }),
        ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
      }
    });
  });
}
