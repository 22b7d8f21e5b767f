import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { JoinTokens } from './join-tokens.ts';

const identity = (n: number) => ({
  trustDomain: 'cluster.local',
  namespace: 'bench',
  serviceAccount: `sa-${n}`,
});

describe('JoinTokens.create', () => {
  // Regression (found by bench/spire.ts): every create swept all pending tokens, so creating n
  // tokens looked at n²/2 entries; 20 000 tokens took seconds.
  it('is O(1) amortized: n creations make the sweeps look at O(n) entries', () => {
    const tokens = new JoinTokens(new FakeClock());
    const n = 20_000;
    for (let i = 0; i < n; i++) tokens.create(identity(i % 100), 3600_000);
    expect(tokens.size).toBe(n);
    expect(tokens.sweptEntries).toBeLessThanOrEqual(2 * n);
  });

  it('still sweeps expired tokens, so that pending ones stay bounded by those alive', () => {
    const clock = new FakeClock();
    const tokens = new JoinTokens(clock);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1000; i++) tokens.create(identity(i), 1000);
      clock.advance(1000);
    }
    // At most the live round plus what accumulated since the last sweep (under twice the mark).
    expect(tokens.size).toBeLessThan(3000);
  });

  it('an expired token that no sweep removed yet is still refused, and still single-use', async () => {
    const clock = new FakeClock();
    const tokens = new JoinTokens(clock);
    const token = tokens.create(identity(1), 1000);
    clock.advance(1000);
    expect(tokens.size).toBe(1);
    await expect(tokens.attest(token)).rejects.toMatchObject({ code: 'ERR_CA_UNAUTHENTICATED' });
    await expect(tokens.attest(token)).rejects.toMatchObject({ code: 'ERR_CA_UNAUTHENTICATED' });
    expect(tokens.size).toBe(0);
  });
});
