import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdpStore, RefreshFamilyRecord, UserRecord } from './types.ts';

/**
 * The one behaviour suite for IdpStore, run against every adapter (SQLite in the unit
 * project, PostgreSQL in test/integration/idp-store-postgres.test.ts).
 */
export function describeStoreContract(name: string, open: () => Promise<IdpStore>): void {
  describe(`IdpStore contract: ${name}`, () => {
    let store: IdpStore;
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${Date.now()}-${++counter}`;

    beforeAll(async () => {
      store = await open();
      await store.migrate();
      await store.migrate(); // a second start migrates nothing and fails nothing
    });
    afterAll(async () => {
      await store.close();
    });

    const newUser = async (overrides: Partial<UserRecord> = {}): Promise<UserRecord> => {
      const user: UserRecord = {
        id: unique('u'),
        username: unique('alice'),
        passwordHash: '$argon2id$stub',
        roles: ['viewer', 'manager'],
        groups: ['shop'],
        disabled: false,
        createdAt: 1_700_000_000_000,
        ...overrides,
      };
      await store.createUser(user);
      return user;
    };

    const newFamily = async (userId: string, expiresAt = 9_000_000_000_000): Promise<RefreshFamilyRecord> => {
      const family: RefreshFamilyRecord = {
        id: unique('fam'),
        userId,
        clientId: 'web',
        scope: 'openid',
        amr: ['pwd', 'otp', 'mfa'],
        authTime: 1,
        createdAt: 1,
        expiresAt,
        revokedAt: null,
        revokedReason: null,
      };
      await store.createRefreshFamily(family, {
        tokenHash: unique('rt'),
        familyId: family.id,
        createdAt: 1,
        expiresAt: 2,
        usedAt: null,
      });
      return family;
    };

    it('stores users and finds them by name and ID, with roles and groups', async () => {
      const user = await newUser();
      expect(await store.userByName(user.username)).toEqual(user);
      expect(await store.userById(user.id)).toEqual(user);
      expect(await store.userByName('nobody-at-all')).toBeNull();
      expect((await store.listUsers(1000)).map((u) => u.id)).toContain(user.id);
    });

    it('refuses a duplicate username with ERR_IDP_STORE and keeps the first user', async () => {
      const user = await newUser();
      await expect(newUser({ username: user.username })).rejects.toMatchObject({ code: 'ERR_IDP_STORE' });
      expect((await store.userByName(user.username))?.id).toBe(user.id);
    });

    it('disables a user and changes a password hash', async () => {
      const user = await newUser();
      expect(await store.setUserDisabled(user.id, true)).toBe(true);
      expect(await store.setPasswordHash(user.id, '$argon2id$new')).toBe(true);
      expect(await store.userById(user.id)).toMatchObject({ disabled: true, passwordHash: '$argon2id$new' });
      expect(await store.setUserDisabled('missing', true)).toBe(false);
    });

    it('remembers the last TOTP step and refuses the same or an earlier step', async () => {
      const user = await newUser();
      await store.putTotp({ userId: user.id, secretCiphertext: 'sealed', lastStep: 0, confirmed: false });
      expect(await store.confirmTotp(user.id)).toBe(true);
      expect(await store.advanceTotpStep(user.id, 100)).toBe(true);
      expect(await store.advanceTotpStep(user.id, 100)).toBe(false);
      expect(await store.advanceTotpStep(user.id, 99)).toBe(false);
      expect(await store.advanceTotpStep(user.id, 101)).toBe(true);
      expect(await store.totpOf(user.id)).toEqual({
        userId: user.id,
        secretCiphertext: 'sealed',
        lastStep: 101,
        confirmed: true,
      });
    });

    it('accepts one TOTP step once among concurrent callers', async () => {
      const user = await newUser();
      await store.putTotp({ userId: user.id, secretCiphertext: 's', lastStep: 0, confirmed: true });
      const results = await Promise.all(Array.from({ length: 8 }, () => store.advanceTotpStep(user.id, 5)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('uses each recovery code once, and resetting MFA removes the secret and the codes', async () => {
      const user = await newUser();
      await store.putTotp({ userId: user.id, secretCiphertext: 's', lastStep: 0, confirmed: true });
      await store.putRecoveryCodes(user.id, ['h1', 'h2', 'h3']);
      expect(await store.recoveryCodesLeft(user.id)).toBe(3);
      const results = await Promise.all([
        store.useRecoveryCode(user.id, 'h2'),
        store.useRecoveryCode(user.id, 'h2'),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.useRecoveryCode(user.id, 'h2')).toBe(false);
      expect(await store.recoveryCodesLeft(user.id)).toBe(2);
      await store.resetMfa(user.id);
      expect(await store.totpOf(user.id)).toBeNull();
      expect(await store.recoveryCodesLeft(user.id)).toBe(0);
    });

    it('stores clients with their exact redirect URIs', async () => {
      const client = {
        id: unique('client'),
        name: 'Web',
        secretHash: null,
        redirectUris: ['https://app.example/cb', 'http://localhost:8080/callback'],
        createdAt: 5,
      };
      await store.createClient(client);
      expect(await store.clientById(client.id)).toEqual(client);
      await expect(store.createClient(client)).rejects.toMatchObject({ code: 'ERR_IDP_STORE' });
      expect((await store.listClients(1000)).map((c) => c.id)).toContain(client.id);
    });

    it('hands an authorization code out once, even to concurrent callers', async () => {
      const user = await newUser();
      const code = {
        codeHash: unique('code'),
        clientId: 'web',
        userId: user.id,
        redirectUri: 'https://app.example/cb',
        codeChallenge: 'challenge',
        scope: 'openid',
        nonce: null,
        amr: ['pwd'],
        authTime: 10,
        expiresAt: 20,
      };
      await store.saveAuthCode(code);
      const taken = await Promise.all([store.takeAuthCode(code.codeHash), store.takeAuthCode(code.codeHash)]);
      expect(taken.filter((value) => value !== null)).toEqual([code]);
      expect(await store.takeAuthCode(code.codeHash)).toBeNull();
    });

    it('marks a refresh token used for exactly one of many concurrent callers', async () => {
      const user = await newUser();
      const family = await newFamily(user.id);
      const token = {
        tokenHash: unique('rt'),
        familyId: family.id,
        createdAt: 3,
        expiresAt: 4,
        usedAt: null,
      };
      await store.addRefreshToken(token);
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.markRefreshUsed(token.tokenHash, 7)),
      );
      expect(results.filter((value) => value !== null)).toEqual(
        [{ ...token, usedAt: null }].map((t) => ({ ...t, usedAt: 7 })),
      );
      expect(await store.refreshToken(token.tokenHash)).toEqual({ ...token, usedAt: 7 });
      expect(await store.markRefreshUsed('missing', 7)).toBeNull();
    });

    it('revokes a refresh family once and records why', async () => {
      const user = await newUser();
      const family = await newFamily(user.id);
      expect(await store.revokeRefreshFamily(family.id, 'reuse', 50)).toBe(true);
      expect(await store.revokeRefreshFamily(family.id, 'again', 60)).toBe(false);
      expect(await store.refreshFamily(family.id)).toEqual({
        ...family,
        revokedAt: 50,
        revokedReason: 'reuse',
      });
      const other = await newFamily(user.id);
      expect(await store.revokeUserRefreshFamilies(user.id, 'disabled', 70)).toBe(1);
      expect((await store.refreshFamily(other.id))?.revokedReason).toBe('disabled');
    });

    it('purges expired codes, sessions and families with their tokens', async () => {
      const user = await newUser();
      const family = await newFamily(user.id, 100);
      const token = {
        tokenHash: unique('rt'),
        familyId: family.id,
        createdAt: 3,
        expiresAt: 4,
        usedAt: null,
      };
      await store.addRefreshToken(token);
      const idHash = unique('sess');
      await store.createSession({ idHash, userId: null, data: '{}', createdAt: 1, expiresAt: 100 });
      expect(await store.purgeExpired(101)).toBeGreaterThanOrEqual(2);
      expect(await store.refreshFamily(family.id)).toBeNull();
      expect(await store.refreshToken(token.tokenHash)).toBeNull();
      expect(await store.sessionByHash(idHash)).toBeNull();
    });

    it('creates, updates and deletes sessions', async () => {
      const user = await newUser();
      const idHash = unique('sess');
      await store.createSession({
        idHash,
        userId: null,
        data: '{"stage":"password"}',
        createdAt: 1,
        expiresAt: 9e12,
      });
      expect(await store.updateSession(idHash, user.id, '{"stage":"done"}', 9e12 + 1)).toBe(true);
      expect(await store.sessionByHash(idHash)).toEqual({
        idHash,
        userId: user.id,
        data: '{"stage":"done"}',
        createdAt: 1,
        expiresAt: 9e12 + 1,
      });
      await store.deleteSession(idHash);
      expect(await store.sessionByHash(idHash)).toBeNull();
      expect(await store.updateSession(idHash, null, '{}', 1)).toBe(false);
    });

    it('appends audit records and lists them newest first, filtered', async () => {
      const username = unique('audited');
      for (const [at, outcome] of [
        [1000, 'failure'],
        [2000, 'success'],
        [3000, 'blocked'],
      ] as const) {
        await store.appendAudit({
          at,
          event: 'login',
          username,
          userId: null,
          source: '203.0.113.9',
          outcome,
          reason: null,
        });
      }
      const records = await store.listAudit({ limit: 10, username });
      expect(records.map((r) => r.outcome)).toEqual(['blocked', 'success', 'failure']);
      expect(await store.listAudit({ limit: 10, username, since: 2000 })).toHaveLength(2);
      expect(records[0]).toEqual({
        at: 3000,
        event: 'login',
        username,
        userId: null,
        source: '203.0.113.9',
        outcome: 'blocked',
        reason: null,
      });
    });

    it('remembers devices and countries per user: new once, newest kept, bounded', async () => {
      const user = await newUser();
      const other = await newUser();
      expect(await store.touchLoginMark(user.id, 'device', 'd1', 1000, 2)).toBe(true);
      expect(await store.touchLoginMark(user.id, 'device', 'd1', 2000, 2)).toBe(false);
      expect(await store.touchLoginMark(user.id, 'device', 'd2', 3000, 2)).toBe(true);
      expect(await store.touchLoginMark(user.id, 'country', 'GB', 3000, 2)).toBe(true);
      expect(await store.loginMarks(user.id, 'device', 10)).toEqual(['d2', 'd1']);
      // A third device pushes out the least recently seen one, which is then new again.
      expect(await store.touchLoginMark(user.id, 'device', 'd3', 4000, 2)).toBe(true);
      expect(await store.loginMarks(user.id, 'device', 10)).toEqual(['d3', 'd2']);
      expect(await store.loginMarks(user.id, 'country', 10)).toEqual(['GB']);
      expect(await store.loginMarks(other.id, 'device', 10)).toEqual([]);
      expect(await store.touchLoginMark(other.id, 'device', 'd1', 5000, 2)).toBe(true);
    });

    it('marks a device new for exactly one of many concurrent callers', async () => {
      const user = await newUser();
      const results = await Promise.all(
        Array.from({ length: 8 }, () => store.touchLoginMark(user.id, 'device', 'same', 1000, 5)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('keeps the last login of a user, with or without a place', async () => {
      const user = await newUser();
      expect(await store.lastLogin(user.id)).toBeNull();
      const place = { country: 'GB', latitude: 51.403599, longitude: -0.7618 };
      await store.setLastLogin({ userId: user.id, at: 1000, source: '81.2.69.160', place });
      expect(await store.lastLogin(user.id)).toEqual({
        userId: user.id,
        at: 1000,
        source: '81.2.69.160',
        place,
      });
      await store.setLastLogin({ userId: user.id, at: 2000, source: '10.0.0.1', place: null });
      expect(await store.lastLogin(user.id)).toEqual({
        userId: user.id,
        at: 2000,
        source: '10.0.0.1',
        place: null,
      });
    });

    it('keeps signing keys through retirement until they expire', async () => {
      const kid = unique('kid');
      await store.addSigningKey({
        kid,
        privateJwkCiphertext: 'sealed',
        createdAt: 1,
        retiredAt: null,
        expiresAt: null,
      });
      expect(await store.retireSigningKey(kid, 10, 20)).toBe(true);
      expect(await store.retireSigningKey(kid, 11, 21)).toBe(false);
      expect((await store.listSigningKeys()).find((k) => k.kid === kid)).toEqual({
        kid,
        privateJwkCiphertext: 'sealed',
        createdAt: 1,
        retiredAt: 10,
        expiresAt: 20,
      });
      expect(await store.deleteExpiredSigningKeys(20)).toBeGreaterThanOrEqual(1);
      expect((await store.listSigningKeys()).find((k) => k.kid === kid)).toBeUndefined();
    });
  });
}
