/**
 * When to renew an SVID: at half its lifetime, ±10% jitter, so that workloads started together
 * do not all renew at once.
 */
export function renewalDelay(
  issuedAt: number,
  expiresAt: number,
  random: () => number = Math.random,
): number {
  const lifetime = Math.max(0, expiresAt - issuedAt);
  return Math.round(lifetime * 0.5 * (0.9 + 0.2 * random()));
}
