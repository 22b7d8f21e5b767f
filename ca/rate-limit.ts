/** Per-caller token buckets, bounded in number: the least recently used bucket goes first. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
    private readonly burst = perSecond,
    private readonly maxCallers = 100_000,
  ) {
    if (!(perSecond > 0) || !(burst >= 1)) throw new TypeError('rate and burst must be positive');
  }

  /** Takes one token for `caller`; false when its bucket is empty. */
  take(caller: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(caller) ?? { tokens: this.burst, at: now };
    this.buckets.delete(caller);
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (this.buckets.size >= this.maxCallers) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(caller, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
