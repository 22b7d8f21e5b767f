// Verified end-user tokens, remembered so that a client sending the same token on every request
// costs one signature check, not one per request. Keyed by the SHA-256 digest of the compact
// token (the whole token, signature included: a token that differs in any byte is a miss), so
// that no token text is kept. Bounded in size (least recently used goes first); an entry is
// served only inside its validity window and only while the issuer's key set is the very one
// that verified it. Only tokens that passed every check are ever stored.
import { hash } from 'node:crypto';

/** The SHA-256 digest of a compact token, as a map key. */
export function tokenDigest(token: string): string {
  return hash('sha256', token, 'base64url');
}

export interface CachedVerification<Value> {
  readonly value: Value;
  /** Milliseconds since the epoch: served from here (nbf/iat less the allowed skew)... */
  readonly validFromMs: number;
  /** ...until strictly before here (the token's exp). */
  readonly validUntilMs: number;
  /** Whether the key that verified the token is still the issuer's; checked on every hit. */
  readonly keysUnchanged: () => boolean;
}

export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;
export const MAX_TOKEN_CACHE_SIZE = 100_000;

export class TokenCache<Value> {
  private readonly entries = new Map<string, CachedVerification<Value>>();

  /** maxEntries 0 turns the cache off. */
  constructor(private readonly maxEntries: number = DEFAULT_TOKEN_CACHE_SIZE) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0 || maxEntries > MAX_TOKEN_CACHE_SIZE)
      throw new TypeError(`maxEntries must be an integer in [0, ${MAX_TOKEN_CACHE_SIZE}]`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value for this digest if it may be served at `nowMs`; a stale entry is dropped. */
  get(digest: string, nowMs: number): Value | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    if (nowMs >= entry.validUntilMs || nowMs < entry.validFromMs || !entry.keysUnchanged()) {
      this.entries.delete(digest);
      return undefined;
    }
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry.value;
  }

  set(digest: string, entry: CachedVerification<Value>): void {
    if (this.maxEntries === 0 || entry.validUntilMs <= entry.validFromMs) return;
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
