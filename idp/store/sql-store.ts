import { idpError } from '../errors.ts';
import type { SqlDriver } from './driver.ts';
import { MIGRATIONS } from './migrations.ts';
import type {
  AuditRecord,
  AuthCodeRecord,
  ClientRecord,
  IdpStore,
  LastLoginRecord,
  LoginMarkKind,
  RefreshFamilyRecord,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  TotpRecord,
  UserRecord,
} from './types.ts';

type Row = Record<string, unknown>;

// Rows hold only strings, numbers and nulls (TEXT, INTEGER/BIGINT columns).
function str(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return value.toString();
  throw new TypeError(`unexpected ${typeof value} in a text column`);
}
const strOrNull = (value: unknown): string | null =>
  value === null || value === undefined ? null : str(value);
const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);
const list = (value: unknown): string[] => JSON.parse(str(value)) as string[];

const toUser = (row: Row): UserRecord => ({
  id: str(row.id),
  username: str(row.username),
  passwordHash: str(row.password_hash),
  roles: list(row.role_names),
  groups: list(row.group_names),
  disabled: num(row.disabled) === 1,
  createdAt: num(row.created_at),
});

const toClient = (row: Row): ClientRecord => ({
  id: str(row.id),
  name: str(row.name),
  secretHash: strOrNull(row.secret_hash),
  redirectUris: list(row.redirect_uris),
  createdAt: num(row.created_at),
});

const toFamily = (row: Row): RefreshFamilyRecord => ({
  id: str(row.id),
  userId: str(row.user_id),
  clientId: str(row.client_id),
  scope: str(row.scope),
  amr: list(row.amr),
  authTime: num(row.auth_time),
  createdAt: num(row.created_at),
  expiresAt: num(row.expires_at),
  revokedAt: numOrNull(row.revoked_at),
  revokedReason: strOrNull(row.revoked_reason),
});

const toToken = (row: Row): RefreshTokenRecord => ({
  tokenHash: str(row.token_hash),
  familyId: str(row.family_id),
  createdAt: num(row.created_at),
  expiresAt: num(row.expires_at),
  usedAt: numOrNull(row.used_at),
});

const toAudit = (row: Row): AuditRecord => ({
  at: num(row.at),
  event: str(row.event),
  username: strOrNull(row.username),
  userId: strOrNull(row.user_id),
  source: strOrNull(row.source),
  outcome: str(row.outcome) as AuditRecord['outcome'],
  reason: strOrNull(row.reason),
});

function isDuplicate(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '23505' || (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'));
}

/** The one implementation of IdpStore; the driver supplies the database. */
export class SqlStore implements IdpStore {
  constructor(private readonly db: SqlDriver) {}

  get dialect(): SqlDriver['dialect'] {
    return this.db.dialect;
  }

  migrate(): Promise<void> {
    return this.db.migrate(MIGRATIONS);
  }

  close(): Promise<void> {
    return this.db.close();
  }

  private async insert(what: string, sql: string, params: readonly unknown[]): Promise<void> {
    try {
      await this.db.run(sql, params);
    } catch (error) {
      if (isDuplicate(error)) throw idpError('ERR_IDP_STORE', `${what} already exists`);
      throw error;
    }
  }

  private async one<T>(sql: string, params: readonly unknown[], map: (row: Row) => T): Promise<T | null> {
    const [row] = await this.db.query<Row>(sql, params);
    return row ? map(row) : null;
  }

  createUser(user: UserRecord): Promise<void> {
    return this.insert(
      'a user with this ID or name',
      `INSERT INTO idp_users (id, username, password_hash, role_names, group_names, disabled, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [
        user.id,
        user.username,
        user.passwordHash,
        JSON.stringify(user.roles),
        JSON.stringify(user.groups),
        user.disabled ? 1 : 0,
        user.createdAt,
      ],
    );
  }

  userByName(username: string): Promise<UserRecord | null> {
    return this.one('SELECT * FROM idp_users WHERE username = ?', [username], toUser);
  }

  userById(id: string): Promise<UserRecord | null> {
    return this.one('SELECT * FROM idp_users WHERE id = ?', [id], toUser);
  }

  async listUsers(limit: number): Promise<UserRecord[]> {
    return (await this.db.query<Row>('SELECT * FROM idp_users ORDER BY username LIMIT ?', [limit])).map(
      toUser,
    );
  }

  async setUserDisabled(id: string, disabled: boolean): Promise<boolean> {
    return (
      (await this.db.run('UPDATE idp_users SET disabled = ? WHERE id = ?', [disabled ? 1 : 0, id])) === 1
    );
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<boolean> {
    return (
      (await this.db.run('UPDATE idp_users SET password_hash = ? WHERE id = ?', [passwordHash, id])) === 1
    );
  }

  async putTotp(record: TotpRecord): Promise<void> {
    await this.db.batch([
      { sql: 'DELETE FROM idp_totp WHERE user_id = ?', params: [record.userId] },
      { sql: 'DELETE FROM idp_recovery_codes WHERE user_id = ?', params: [record.userId] },
      {
        sql: 'INSERT INTO idp_totp (user_id, secret_ciphertext, last_step, confirmed) VALUES (?, ?, ?, ?)',
        params: [record.userId, record.secretCiphertext, record.lastStep, record.confirmed ? 1 : 0],
      },
    ]);
  }

  totpOf(userId: string): Promise<TotpRecord | null> {
    return this.one('SELECT * FROM idp_totp WHERE user_id = ?', [userId], (row) => ({
      userId: str(row.user_id),
      secretCiphertext: str(row.secret_ciphertext),
      lastStep: num(row.last_step),
      confirmed: num(row.confirmed) === 1,
    }));
  }

  async confirmTotp(userId: string): Promise<boolean> {
    return (await this.db.run('UPDATE idp_totp SET confirmed = 1 WHERE user_id = ?', [userId])) === 1;
  }

  async advanceTotpStep(userId: string, step: number): Promise<boolean> {
    const changed = await this.db.run(
      'UPDATE idp_totp SET last_step = ? WHERE user_id = ? AND last_step < ?',
      [step, userId, step],
    );
    return changed === 1;
  }

  async resetMfa(userId: string): Promise<void> {
    await this.db.batch([
      { sql: 'DELETE FROM idp_totp WHERE user_id = ?', params: [userId] },
      { sql: 'DELETE FROM idp_recovery_codes WHERE user_id = ?', params: [userId] },
    ]);
  }

  async putRecoveryCodes(userId: string, codeHashes: string[]): Promise<void> {
    await this.db.batch([
      { sql: 'DELETE FROM idp_recovery_codes WHERE user_id = ?', params: [userId] },
      ...codeHashes.map((hash) => ({
        sql: 'INSERT INTO idp_recovery_codes (user_id, code_hash) VALUES (?, ?)',
        params: [userId, hash],
      })),
    ]);
  }

  async useRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
    const changed = await this.db.run('DELETE FROM idp_recovery_codes WHERE user_id = ? AND code_hash = ?', [
      userId,
      codeHash,
    ]);
    return changed === 1;
  }

  async recoveryCodesLeft(userId: string): Promise<number> {
    const [row] = await this.db.query<Row>('SELECT COUNT(*) AS n FROM idp_recovery_codes WHERE user_id = ?', [
      userId,
    ]);
    return num(row?.n ?? 0);
  }

  createClient(client: ClientRecord): Promise<void> {
    return this.insert(
      'a client with this ID',
      'INSERT INTO idp_clients (id, name, secret_hash, redirect_uris, created_at) VALUES (?, ?, ?, ?, ?)',
      [client.id, client.name, client.secretHash, JSON.stringify(client.redirectUris), client.createdAt],
    );
  }

  clientById(id: string): Promise<ClientRecord | null> {
    return this.one('SELECT * FROM idp_clients WHERE id = ?', [id], toClient);
  }

  async listClients(limit: number): Promise<ClientRecord[]> {
    return (await this.db.query<Row>('SELECT * FROM idp_clients ORDER BY id LIMIT ?', [limit])).map(toClient);
  }

  saveAuthCode(code: AuthCodeRecord): Promise<void> {
    return this.insert(
      'an authorization code',
      `INSERT INTO idp_auth_codes
       (code_hash, client_id, user_id, redirect_uri, code_challenge, scope, nonce, amr, auth_time, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        code.codeHash,
        code.clientId,
        code.userId,
        code.redirectUri,
        code.codeChallenge,
        code.scope,
        code.nonce,
        JSON.stringify(code.amr),
        code.authTime,
        code.expiresAt,
      ],
    );
  }

  takeAuthCode(codeHash: string): Promise<AuthCodeRecord | null> {
    return this.one('DELETE FROM idp_auth_codes WHERE code_hash = ? RETURNING *', [codeHash], (row) => ({
      codeHash: str(row.code_hash),
      clientId: str(row.client_id),
      userId: str(row.user_id),
      redirectUri: str(row.redirect_uri),
      codeChallenge: str(row.code_challenge),
      scope: str(row.scope),
      nonce: strOrNull(row.nonce),
      amr: list(row.amr),
      authTime: num(row.auth_time),
      expiresAt: num(row.expires_at),
    }));
  }

  async createRefreshFamily(family: RefreshFamilyRecord, first: RefreshTokenRecord): Promise<void> {
    await this.db.batch([
      {
        sql: `INSERT INTO idp_refresh_families
              (id, user_id, client_id, scope, amr, auth_time, created_at, expires_at, revoked_at, revoked_reason)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        params: [
          family.id,
          family.userId,
          family.clientId,
          family.scope,
          JSON.stringify(family.amr),
          family.authTime,
          family.createdAt,
          family.expiresAt,
          family.revokedAt,
          family.revokedReason,
        ],
      },
      tokenInsert(first),
    ]);
  }

  refreshFamily(id: string): Promise<RefreshFamilyRecord | null> {
    return this.one('SELECT * FROM idp_refresh_families WHERE id = ?', [id], toFamily);
  }

  refreshToken(tokenHash: string): Promise<RefreshTokenRecord | null> {
    return this.one('SELECT * FROM idp_refresh_tokens WHERE token_hash = ?', [tokenHash], toToken);
  }

  markRefreshUsed(tokenHash: string, now: number): Promise<RefreshTokenRecord | null> {
    // One conditional statement: whichever concurrent caller flips used_at gets the row.
    return this.one(
      'UPDATE idp_refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL RETURNING *',
      [now, tokenHash],
      toToken,
    );
  }

  async addRefreshToken(token: RefreshTokenRecord): Promise<void> {
    const statement = tokenInsert(token);
    await this.insert('a refresh token', statement.sql, statement.params);
  }

  async revokeRefreshFamily(familyId: string, reason: string, now: number): Promise<boolean> {
    const changed = await this.db.run(
      'UPDATE idp_refresh_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL',
      [now, reason, familyId],
    );
    return changed === 1;
  }

  revokeUserRefreshFamilies(userId: string, reason: string, now: number): Promise<number> {
    return this.db.run(
      'UPDATE idp_refresh_families SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL',
      [now, reason, userId],
    );
  }

  createSession(session: SessionRecord): Promise<void> {
    return this.insert(
      'a session',
      'INSERT INTO idp_sessions (id_hash, user_id, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      [session.idHash, session.userId, session.data, session.createdAt, session.expiresAt],
    );
  }

  sessionByHash(idHash: string): Promise<SessionRecord | null> {
    return this.one('SELECT * FROM idp_sessions WHERE id_hash = ?', [idHash], (row) => ({
      idHash: str(row.id_hash),
      userId: strOrNull(row.user_id),
      data: str(row.data),
      createdAt: num(row.created_at),
      expiresAt: num(row.expires_at),
    }));
  }

  async updateSession(
    idHash: string,
    userId: string | null,
    data: string,
    expiresAt: number,
  ): Promise<boolean> {
    const changed = await this.db.run(
      'UPDATE idp_sessions SET user_id = ?, data = ?, expires_at = ? WHERE id_hash = ?',
      [userId, data, expiresAt, idHash],
    );
    return changed === 1;
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.run('DELETE FROM idp_sessions WHERE id_hash = ?', [idHash]);
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    await this.db.run(
      'INSERT INTO idp_audit (at, event, username, user_id, source, outcome, reason) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [record.at, record.event, record.username, record.userId, record.source, record.outcome, record.reason],
    );
  }

  async listAudit(options: { limit: number; since?: number; username?: string }): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.since !== undefined) {
      where.push('at >= ?');
      params.push(options.since);
    }
    if (options.username !== undefined) {
      where.push('username = ?');
      params.push(options.username);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const rows = await this.db.query<Row>(`SELECT * FROM idp_audit ${clause} ORDER BY id DESC LIMIT ?`, [
      ...params,
      options.limit,
    ]);
    return rows.map(toAudit);
  }

  async loginMarks(userId: string, kind: LoginMarkKind, limit: number): Promise<string[]> {
    const rows = await this.db.query<Row>(
      'SELECT value FROM idp_login_marks WHERE user_id = ? AND kind = ? ORDER BY last_seen DESC, value LIMIT ?',
      [userId, kind, limit],
    );
    return rows.map((row) => str(row.value));
  }

  async touchLoginMark(
    userId: string,
    kind: LoginMarkKind,
    value: string,
    now: number,
    keep: number,
  ): Promise<boolean> {
    // The insert that wins the primary key is the one that saw the value first.
    const [inserted] = await this.db.batch([
      {
        sql: `INSERT INTO idp_login_marks (user_id, kind, value, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
              ON CONFLICT (user_id, kind, value) DO NOTHING`,
        params: [userId, kind, value, now, now],
      },
      {
        sql: 'UPDATE idp_login_marks SET last_seen = ? WHERE user_id = ? AND kind = ? AND value = ? AND last_seen < ?',
        params: [now, userId, kind, value, now],
      },
      {
        sql: `DELETE FROM idp_login_marks WHERE user_id = ? AND kind = ? AND value NOT IN (
                SELECT value FROM idp_login_marks WHERE user_id = ? AND kind = ?
                ORDER BY last_seen DESC, value LIMIT ?)`,
        params: [userId, kind, userId, kind, keep],
      },
    ]);
    return inserted === 1;
  }

  lastLogin(userId: string): Promise<LastLoginRecord | null> {
    return this.one('SELECT * FROM idp_last_logins WHERE user_id = ?', [userId], (row) => ({
      userId: str(row.user_id),
      at: num(row.at),
      source: str(row.source),
      place:
        row.country === null || row.latitude_e6 === null || row.longitude_e6 === null
          ? null
          : {
              country: str(row.country),
              latitude: num(row.latitude_e6) / 1e6,
              longitude: num(row.longitude_e6) / 1e6,
            },
    }));
  }

  async setLastLogin(record: LastLoginRecord): Promise<void> {
    const { place } = record;
    await this.db.run(
      `INSERT INTO idp_last_logins (user_id, at, source, country, latitude_e6, longitude_e6) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET at = excluded.at, source = excluded.source, country = excluded.country,
         latitude_e6 = excluded.latitude_e6, longitude_e6 = excluded.longitude_e6`,
      [
        record.userId,
        record.at,
        record.source,
        place?.country ?? null,
        place ? Math.round(place.latitude * 1e6) : null,
        place ? Math.round(place.longitude * 1e6) : null,
      ],
    );
  }

  addSigningKey(key: SigningKeyRecord): Promise<void> {
    return this.insert(
      'a signing key with this kid',
      'INSERT INTO idp_signing_keys (kid, private_jwk_ciphertext, created_at, retired_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      [key.kid, key.privateJwkCiphertext, key.createdAt, key.retiredAt, key.expiresAt],
    );
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.query<Row>('SELECT * FROM idp_signing_keys ORDER BY created_at, kid');
    return rows.map((row) => ({
      kid: str(row.kid),
      privateJwkCiphertext: str(row.private_jwk_ciphertext),
      createdAt: num(row.created_at),
      retiredAt: numOrNull(row.retired_at),
      expiresAt: numOrNull(row.expires_at),
    }));
  }

  async retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<boolean> {
    const changed = await this.db.run(
      'UPDATE idp_signing_keys SET retired_at = ?, expires_at = ? WHERE kid = ? AND retired_at IS NULL',
      [retiredAt, expiresAt, kid],
    );
    return changed === 1;
  }

  deleteExpiredSigningKeys(now: number): Promise<number> {
    return this.db.run('DELETE FROM idp_signing_keys WHERE expires_at IS NOT NULL AND expires_at <= ?', [
      now,
    ]);
  }

  async purgeExpired(now: number): Promise<number> {
    const counts = await this.db.batch([
      { sql: 'DELETE FROM idp_auth_codes WHERE expires_at <= ?', params: [now] },
      { sql: 'DELETE FROM idp_sessions WHERE expires_at <= ?', params: [now] },
      { sql: 'DELETE FROM idp_refresh_families WHERE expires_at <= ?', params: [now] },
    ]);
    return counts.reduce((sum, count) => sum + count, 0);
  }
}

function tokenInsert(token: RefreshTokenRecord): { sql: string; params: unknown[] } {
  return {
    sql: 'INSERT INTO idp_refresh_tokens (token_hash, family_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?)',
    params: [token.tokenHash, token.familyId, token.createdAt, token.expiresAt, token.usedAt],
  };
}
