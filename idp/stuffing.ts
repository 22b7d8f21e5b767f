import type { Clock } from '../lib/clock.ts';

export interface StuffingPolicy {
  /** Distinct accounts failing from one source within windowMs that make a detection. */
  accounts: number;
  windowMs: number;
  /** Sources remembered at once; the least recently seen go first. */
  maxSources: number;
}

interface SourceState {
  /** Account key → time of its last failure from this source; at most `accounts` entries. */
  accounts: Map<string, number>;
  /** Set while a detection stands, so that one wave is reported once. */
  detectedAt: number | null;
}

/**
 * Credential stuffing: one source failing logins for many different accounts. Counting failed
 * attempts only keeps a shared NAT whose users sign in normally from looking like an attack.
 * State is bounded: `maxSources` sources of at most `accounts` keys each.
 */
export class StuffingDetector {
  private readonly sources = new Map<string, SourceState>();

  constructor(
    private readonly clock: Clock,
    private readonly policy: StuffingPolicy,
  ) {
    if (!(policy.accounts >= 2) || !(policy.windowMs > 0) || !(policy.maxSources >= 1))
      throw new TypeError('stuffing policy needs accounts >= 2, windowMs > 0, maxSources >= 1');
  }

  private state(source: string): SourceState | undefined {
    const state = this.sources.get(source);
    if (!state) return undefined;
    const since = this.clock.now() - this.policy.windowMs;
    for (const [account, at] of state.accounts) if (at <= since) state.accounts.delete(account);
    if (state.detectedAt !== null && state.detectedAt <= since) state.detectedAt = null;
    if (state.accounts.size === 0 && state.detectedAt === null) {
      this.sources.delete(source);
      return undefined;
    }
    return state;
  }

  /** Records a failed login; true exactly when this failure makes a new detection. */
  failed(source: string, account: string): boolean {
    const now = this.clock.now();
    const state = this.state(source) ?? { accounts: new Map<string, number>(), detectedAt: null };
    state.accounts.delete(account);
    state.accounts.set(account, now);
    if (state.accounts.size > this.policy.accounts)
      state.accounts.delete(state.accounts.keys().next().value!);
    this.sources.delete(source);
    this.sources.set(source, state);
    if (this.sources.size > this.policy.maxSources) this.sources.delete(this.sources.keys().next().value!);
    if (state.detectedAt === null && state.accounts.size >= this.policy.accounts) {
      state.detectedAt = now;
      return true;
    }
    return false;
  }

  /** Whether a detection against this source stands (it lapses windowMs after it was made). */
  detected(source: string): boolean {
    return (this.state(source)?.detectedAt ?? null) !== null;
  }
}
