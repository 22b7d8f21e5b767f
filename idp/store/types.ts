/**
 * The identity provider's repository: one interface, with SQLite and PostgreSQL adapters that
 * share one SQL implementation (idp/store/sql-store.ts). Times are milliseconds since the
 * epoch. Secrets never enter the store in the clear: passwords and recovery codes as argon2id
 * or SHA-256 hashes, tokens and codes as SHA-256 hashes, TOTP secrets and signing keys as
 * AES-256-GCM ciphertext.
 */

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
  roles: string[];
  groups: string[];
  disabled: boolean;
  createdAt: number;
}

export interface TotpRecord {
  userId: string;
  /** The base32 secret, sealed by idp/secret-box.ts. */
  secretCiphertext: string;
  /** The last RFC 6238 time step accepted; a code of this step or earlier is refused. */
  lastStep: number;
  /** Set once the user has proven the enrolment with a first code. */
  confirmed: boolean;
}

export interface ClientRecord {
  id: string;
  name: string;
  /** SHA-256 of the client secret (hex); null for a public client (PKCE only). */
  secretHash: string | null;
  /** Compared exactly, byte for byte. */
  redirectUris: string[];
  createdAt: number;
}

export interface AuthCodeRecord {
  codeHash: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  nonce: string | null;
  amr: string[];
  authTime: number;
  expiresAt: number;
}

export interface RefreshFamilyRecord {
  id: string;
  userId: string;
  clientId: string;
  scope: string;
  amr: string[];
  authTime: number;
  createdAt: number;
  /** The absolute lifetime: no token of the family is honoured after it. */
  expiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
}

export interface RefreshTokenRecord {
  tokenHash: string;
  familyId: string;
  createdAt: number;
  /** The idle lifetime: a token not used by then is dead. */
  expiresAt: number;
  usedAt: number | null;
}

export interface SessionRecord {
  /** SHA-256 of the cookie value. */
  idHash: string;
  userId: string | null;
  /** Opaque JSON owned by the HTTP layer (login stage, pending authorization request, CSRF). */
  data: string;
  createdAt: number;
  expiresAt: number;
}

export interface AuditRecord {
  at: number;
  /** e.g. login, mfa, refresh_reuse, token_revoked, user_disabled. */
  event: string;
  username: string | null;
  userId: string | null;
  source: string | null;
  outcome: 'success' | 'failure' | 'blocked' | 'security';
  reason: string | null;
}

/** The last completed login of a user, for impossible-travel checks. */
export interface LastLoginRecord {
  userId: string;
  at: number;
  source: string;
  /** Null when the address could not be geolocated. */
  place: { country: string; latitude: number; longitude: number } | null;
}

export type LoginMarkKind = 'device' | 'country';

export interface SigningKeyRecord {
  kid: string;
  /** The private JWK as JSON, sealed by idp/secret-box.ts. */
  privateJwkCiphertext: string;
  createdAt: number;
  /** After this the key signs nothing but stays in the JWKS until `expiresAt`. */
  retiredAt: number | null;
  expiresAt: number | null;
}

export interface IdpStore {
  /** Applies pending migrations; safe to call on every start and from several replicas. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  createUser(user: UserRecord): Promise<void>;
  userByName(username: string): Promise<UserRecord | null>;
  userById(id: string): Promise<UserRecord | null>;
  listUsers(limit: number): Promise<UserRecord[]>;
  setUserDisabled(id: string, disabled: boolean): Promise<boolean>;
  setPasswordHash(id: string, passwordHash: string): Promise<boolean>;

  /** Replaces any TOTP enrolment and recovery codes of the user. */
  putTotp(record: TotpRecord): Promise<void>;
  totpOf(userId: string): Promise<TotpRecord | null>;
  confirmTotp(userId: string): Promise<boolean>;
  /** Records `step` as used if it is later than the last one; false means a replay. Atomic. */
  advanceTotpStep(userId: string, step: number): Promise<boolean>;
  /** Removes the TOTP enrolment and all recovery codes. */
  resetMfa(userId: string): Promise<void>;
  putRecoveryCodes(userId: string, codeHashes: string[]): Promise<void>;
  /** Deletes the code if present; true for exactly one caller. */
  useRecoveryCode(userId: string, codeHash: string): Promise<boolean>;
  recoveryCodesLeft(userId: string): Promise<number>;

  createClient(client: ClientRecord): Promise<void>;
  clientById(id: string): Promise<ClientRecord | null>;
  listClients(limit: number): Promise<ClientRecord[]>;

  saveAuthCode(code: AuthCodeRecord): Promise<void>;
  /** Deletes and returns the code: an authorization code is redeemed once. */
  takeAuthCode(codeHash: string): Promise<AuthCodeRecord | null>;

  createRefreshFamily(family: RefreshFamilyRecord, first: RefreshTokenRecord): Promise<void>;
  refreshFamily(id: string): Promise<RefreshFamilyRecord | null>;
  refreshToken(tokenHash: string): Promise<RefreshTokenRecord | null>;
  /** Marks an unused token used; returns it to exactly one of any concurrent callers, else null. */
  markRefreshUsed(tokenHash: string, now: number): Promise<RefreshTokenRecord | null>;
  addRefreshToken(token: RefreshTokenRecord): Promise<void>;
  /** Revokes the family if not yet revoked; true if this call revoked it. */
  revokeRefreshFamily(familyId: string, reason: string, now: number): Promise<boolean>;
  revokeUserRefreshFamilies(userId: string, reason: string, now: number): Promise<number>;

  createSession(session: SessionRecord): Promise<void>;
  sessionByHash(idHash: string): Promise<SessionRecord | null>;
  updateSession(idHash: string, userId: string | null, data: string, expiresAt: number): Promise<boolean>;
  deleteSession(idHash: string): Promise<void>;

  appendAudit(record: AuditRecord): Promise<void>;
  /** Newest first. */
  listAudit(options: { limit: number; since?: number; username?: string }): Promise<AuditRecord[]>;

  /** The user's remembered devices (hashed) or countries, most recently seen first. */
  loginMarks(userId: string, kind: LoginMarkKind, limit: number): Promise<string[]>;
  /**
   * Remembers a device or country as seen now, keeping the `keep` most recent of its kind.
   * True for exactly one caller when the value was not remembered before. Atomic.
   */
  touchLoginMark(
    userId: string,
    kind: LoginMarkKind,
    value: string,
    now: number,
    keep: number,
  ): Promise<boolean>;
  lastLogin(userId: string): Promise<LastLoginRecord | null>;
  setLastLogin(record: LastLoginRecord): Promise<void>;

  addSigningKey(key: SigningKeyRecord): Promise<void>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<boolean>;
  deleteExpiredSigningKeys(now: number): Promise<number>;

  /** Drops expired codes, sessions and refresh families; returns how many rows went. */
  purgeExpired(now: number): Promise<number>;
}
