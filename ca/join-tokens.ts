import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { workloadSpiffeId, type WorkloadIdentity } from '../lib/spiffe.ts';
import { checkIdentityPolicy, type Attestor, type IdentityPolicy } from './attestor.ts';
import { caError } from './errors.ts';

export const DEFAULT_JOIN_TOKEN_TTL_MS = 10 * 60_000;
const MAX_PENDING = 100_000;
/** No sweep for expired tokens below this many pending ones. */
const FIRST_SWEEP_AT = 1024;

/**
 * Local mode: one-time join tokens, each bound to one identity and expiring. Only a hash of
 * each token is kept, so a memory dump does not leak usable tokens.
 */
export class JoinTokens implements Attestor {
  private readonly pending = new Map<string, { identity: WorkloadIdentity; expiresAt: number }>();
  // Expired tokens are swept when the pending count reaches this mark, which then becomes twice
  // what the sweep left: each sweep's work is paid for by the creations since the last one, so
  // create() is O(1) amortized (sweeping on every create made n creations cost O(n^2)).
  private sweepAt = FIRST_SWEEP_AT;
  /** Entries the sweeps have looked at, in all: what keeps create() amortized O(1) (for tests). */
  sweptEntries = 0;

  constructor(
    private readonly clock: Clock,
    private readonly policy: IdentityPolicy = {},
  ) {}

  /** Creates a token for `identity`, valid once, until ttlMs from now. */
  create(identity: WorkloadIdentity, ttlMs = DEFAULT_JOIN_TOKEN_TTL_MS): string {
    workloadSpiffeId(identity);
    if (!(ttlMs > 0)) throw new TypeError('ttlMs must be positive');
    if (this.pending.size >= this.sweepAt || this.pending.size >= MAX_PENDING) this.sweep();
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

  /** Tokens created and neither used nor swept yet (expired ones included until the next sweep). */
  get size(): number {
    return this.pending.size;
  }

  private sweep(): void {
    const now = this.clock.now();
    this.sweptEntries += this.pending.size;
    for (const [key, entry] of this.pending) if (now >= entry.expiresAt) this.pending.delete(key);
    this.sweepAt = Math.max(FIRST_SWEEP_AT, 2 * this.pending.size);
  }
}

const hash = (token: string) => createHash('sha256').update(token).digest('base64url');
