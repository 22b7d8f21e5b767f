import type { Migration } from './driver.ts';

/** Append only: a released migration is never edited; a change is a new version. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    statements: [
      `CREATE TABLE idp_users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role_names TEXT NOT NULL,
        group_names TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at {bigint} NOT NULL)`,
      `CREATE TABLE idp_totp (
        user_id TEXT PRIMARY KEY REFERENCES idp_users(id) ON DELETE CASCADE,
        secret_ciphertext TEXT NOT NULL,
        last_step {bigint} NOT NULL,
        confirmed INTEGER NOT NULL DEFAULT 0)`,
      `CREATE TABLE idp_recovery_codes (
        user_id TEXT NOT NULL REFERENCES idp_users(id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        PRIMARY KEY (user_id, code_hash))`,
      `CREATE TABLE idp_clients (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash TEXT,
        redirect_uris TEXT NOT NULL,
        created_at {bigint} NOT NULL)`,
      `CREATE TABLE idp_auth_codes (
        code_hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        code_challenge TEXT NOT NULL,
        scope TEXT NOT NULL,
        nonce TEXT,
        amr TEXT NOT NULL,
        auth_time {bigint} NOT NULL,
        expires_at {bigint} NOT NULL)`,
      `CREATE TABLE idp_refresh_families (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        amr TEXT NOT NULL,
        auth_time {bigint} NOT NULL,
        created_at {bigint} NOT NULL,
        expires_at {bigint} NOT NULL,
        revoked_at {bigint},
        revoked_reason TEXT)`,
      `CREATE INDEX idp_refresh_families_user ON idp_refresh_families (user_id)`,
      `CREATE TABLE idp_refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES idp_refresh_families(id) ON DELETE CASCADE,
        created_at {bigint} NOT NULL,
        expires_at {bigint} NOT NULL,
        used_at {bigint})`,
      `CREATE INDEX idp_refresh_tokens_family ON idp_refresh_tokens (family_id)`,
      `CREATE TABLE idp_sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT,
        data TEXT NOT NULL,
        created_at {bigint} NOT NULL,
        expires_at {bigint} NOT NULL)`,
      `CREATE TABLE idp_audit (
        id {serial},
        at {bigint} NOT NULL,
        event TEXT NOT NULL,
        username TEXT,
        user_id TEXT,
        source TEXT,
        outcome TEXT NOT NULL,
        reason TEXT)`,
      `CREATE INDEX idp_audit_at ON idp_audit (at)`,
      `CREATE TABLE idp_signing_keys (
        kid TEXT PRIMARY KEY,
        private_jwk_ciphertext TEXT NOT NULL,
        created_at {bigint} NOT NULL,
        retired_at {bigint},
        expires_at {bigint})`,
    ],
  },
  {
    version: 2,
    statements: [
      // What a user has signed in from before (hashed device IDs, countries), newest kept.
      `CREATE TABLE idp_login_marks (
        user_id TEXT NOT NULL REFERENCES idp_users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        first_seen {bigint} NOT NULL,
        last_seen {bigint} NOT NULL,
        PRIMARY KEY (user_id, kind, value))`,
      // Where the last completed login came from; coordinates in millionths of a degree.
      `CREATE TABLE idp_last_logins (
        user_id TEXT PRIMARY KEY REFERENCES idp_users(id) ON DELETE CASCADE,
        at {bigint} NOT NULL,
        source TEXT NOT NULL,
        country TEXT,
        latitude_e6 {bigint},
        longitude_e6 {bigint})`,
    ],
  },
]);
