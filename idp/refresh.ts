import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import type { Auditor } from './audit.ts';
import { idpError } from './errors.ts';
import type { IdpStore, RefreshFamilyRecord } from './store/types.ts';

export interface RefreshLifetimes {
  /** A token unused this long is dead. */
  idleMs: number;
  /** No token of a family lives past the family's first issue plus this. */
  absoluteMs: number;
}

const PREFIX = 'lrt_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function newToken(): string {
  return `${PREFIX}${randomBytes(32).toString('base64url')}`;
}

export interface RefreshGrant {
  token: string;
  family: RefreshFamilyRecord;
}

/**
 * Opaque refresh tokens, stored hashed, rotated on every use, in families. Presenting a token
 * that was already rotated means two parties hold it: the whole family is revoked and a
 * security event recorded. Two concurrent redemptions of one token look the same, so at most
 * one succeeds (and the family is then revoked too).
 */
export class RefreshTokens {
  constructor(
    private readonly store: IdpStore,
    private readonly clock: Clock,
    private readonly audit: Auditor,
    private readonly lifetimes: RefreshLifetimes,
  ) {}

  async start(grant: {
    userId: string;
    clientId: string;
    scope: string;
    amr: string[];
    authTime: number;
  }): Promise<RefreshGrant> {
    const now = this.clock.now();
    const family: RefreshFamilyRecord = {
      id: randomUUID(),
      ...grant,
      createdAt: now,
      expiresAt: now + this.lifetimes.absoluteMs,
      revokedAt: null,
      revokedReason: null,
    };
    const token = newToken();
    await this.store.createRefreshFamily(family, {
      tokenHash: hashToken(token),
      familyId: family.id,
      createdAt: now,
      expiresAt: Math.min(now + this.lifetimes.idleMs, family.expiresAt),
      usedAt: null,
    });
    return { token, family };
  }

  /** Spends the token and returns its successor; every failure is ERR_IDP_GRANT_INVALID. */
  async rotate(token: string, clientId: string): Promise<RefreshGrant> {
    const invalid = () => idpError('ERR_IDP_GRANT_INVALID', 'the refresh token is invalid');
    if (!token.startsWith(PREFIX) || token.length > 128) throw invalid();
    const now = this.clock.now();
    const hash = hashToken(token);
    const existing = await this.store.refreshToken(hash);
    if (!existing) throw invalid();
    const family = await this.store.refreshFamily(existing.familyId);
    // A token shown by another client is refused without spending it: only its holder can.
    if (!family || family.clientId !== clientId) throw invalid();
    const spent = await this.store.markRefreshUsed(hash, now);
    if (!spent) {
      await this.revoke(family, 'refresh_token_reuse');
      throw invalid();
    }
    if (family.revokedAt !== null || now >= family.expiresAt || now >= spent.expiresAt) throw invalid();
    const user = await this.store.userById(family.userId);
    if (!user || user.disabled) {
      await this.store.revokeRefreshFamily(family.id, 'user_disabled', now);
      throw invalid();
    }
    const next = newToken();
    await this.store.addRefreshToken({
      tokenHash: hashToken(next),
      familyId: family.id,
      createdAt: now,
      expiresAt: Math.min(now + this.lifetimes.idleMs, family.expiresAt),
      usedAt: null,
    });
    // Re-read: a concurrent reuse may have revoked the family while the successor was written.
    const after = await this.store.refreshFamily(family.id);
    if (!after || after.revokedAt !== null) throw invalid();
    return { token: next, family: after };
  }

  /** RFC 7009: revokes the token's family if the token belongs to this client; silent otherwise. */
  async revokeToken(token: string, clientId: string): Promise<void> {
    if (!token.startsWith(PREFIX) || token.length > 128) return;
    const existing = await this.store.refreshToken(hashToken(token));
    const family = existing && (await this.store.refreshFamily(existing.familyId));
    if (!family || family.clientId !== clientId) return;
    await this.store.revokeRefreshFamily(family.id, 'revoked_by_client', this.clock.now());
  }

  private async revoke(family: RefreshFamilyRecord, reason: string): Promise<void> {
    if (await this.store.revokeRefreshFamily(family.id, reason, this.clock.now())) {
      await this.audit.record({
        event: reason,
        username: null,
        userId: family.userId,
        source: null,
        outcome: 'security',
        reason: `family ${family.id} of client ${family.clientId} revoked`,
      });
    }
  }
}
