import { describe, expect, it } from 'vitest';
import { renewalDelay } from './schedule.ts';

describe('renewalDelay', () => {
  it('renews at half-life, within ±10% jitter', () => {
    const hour = 3600_000;
    expect(renewalDelay(0, hour, () => 0)).toBe(1_620_000);
    expect(renewalDelay(0, hour, () => 0.5)).toBe(1_800_000);
    expect(renewalDelay(0, hour, () => 1)).toBe(1_980_000);
  });

  it('renews at once for an SVID that is already expired', () => {
    expect(renewalDelay(10_000, 5000, () => 0.5)).toBe(0);
  });
});
