import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { workloadSpiffeId, type WorkloadIdentity } from '../lib/spiffe.ts';
import { checkIdentityPolicy, type Attestor, type IdentityPolicy } from './attestor.ts';
import { caError } from './errors.ts';

export const DEFAULT_JOIN_TOKEN_TTL_MS = 10 * 60_000;
const MAX_PENDING = 100_000;

/**
 * Local mode: one-time join tokens, each bound to one identity and expiring. Only a hash of
 * each token is kept, so a memory dump does not leak usable tokens.
 */
export class JoinTokens implements Attestor {
  private readonly pending = new Map<string, { identity: WorkloadIdentity; expiresAt: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly policy: IdentityPolicy = {},
  ) {}

  /** Creates a token for `identity`, valid once, until ttlMs from now. */
  create(identity: WorkloadIdentity, ttlMs = DEFAULT_JOIN_TOKEN_TTL_MS): string {
    workloadSpiffeId(identity);
    if (!(ttlMs > 0)) throw new TypeError('ttlMs must be positive');
    this.sweep();
    if (this.pending.size >= MAX_PENDING)
      throw caError('ERR_CA_RATE_LIMITED', 'too many pending join tokens');
    const token = randomBytes(32).toString('base64url');
    this.pending.set(hash(token), { identity, expiresAt: this.clock.now() + ttlMs });
    return token;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async to fit the Attestor interface
  async attest(token: string): Promise<WorkloadIdentity> {
    const key = hash(token);
    const entry = this.pending.get(key);
    // Consumed on first presentation, even when it turns out expired or denied.
    this.pending.delete(key);
    if (!entry) throw caError('ERR_CA_UNAUTHENTICATED', 'join token unknown or already used');
    if (this.clock.now() >= entry.expiresAt) throw caError('ERR_CA_UNAUTHENTICATED', 'join token expired');
    checkIdentityPolicy(this.policy, entry.identity);
    return entry.identity;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.pending) if (now >= entry.expiresAt) this.pending.delete(key);
  }
}

const hash = (token: string) => createHash('sha256').update(token).digest('base64url');
