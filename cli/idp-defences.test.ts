import { describe, expect, it } from 'vitest';
import { isLanyardError } from '../lib/errors.ts';
import { DEFAULT_DEFENCES } from '../idp/defences.ts';
import { defencesFromFlags } from './idp.ts';

function configError(run: () => unknown): boolean {
  try {
    run();
  } catch (error) {
    return isLanyardError(error, 'ERR_CONFIG_INVALID');
  }
  return false;
}

describe('lanyard idp serve: defence flags', () => {
  it('keeps the documented defaults when no flag is given', () => {
    expect(defencesFromFlags({})).toEqual(DEFAULT_DEFENCES);
    expect(DEFAULT_DEFENCES.stuffing).toMatchObject({
      accounts: 10,
      windowMs: 600_000,
      actions: ['block', 'notify'],
    });
    expect(DEFAULT_DEFENCES.travel).toMatchObject({
      maxKmh: 1000,
      toleranceKm: 500,
      actions: ['mfa', 'notify'],
    });
  });

  it('reads counts, seconds and responses', () => {
    const config = defencesFromFlags({
      'stuffing-accounts': '20',
      'stuffing-window': '60',
      'on-stuffing': 'mfa,notify',
      'travel-max-kmh': '900',
      'travel-block': '120',
      'on-travel': 'block',
      'on-new-device': 'none',
      'keep-devices': '3',
    });
    expect(config.stuffing).toMatchObject({ accounts: 20, windowMs: 60_000, actions: ['mfa', 'notify'] });
    expect(config.travel).toMatchObject({
      maxKmh: 900,
      toleranceKm: 500,
      blockMs: 120_000,
      actions: ['block'],
    });
    expect(config.newDevice).toEqual({ keep: 3, actions: [] });
  });

  it('refuses unknown responses, block for new devices, and out-of-range numbers', () => {
    expect(configError(() => defencesFromFlags({ 'on-travel': 'lockout' }))).toBe(true);
    expect(configError(() => defencesFromFlags({ 'on-new-device': 'block' }))).toBe(true);
    expect(configError(() => defencesFromFlags({ 'stuffing-accounts': '1' }))).toBe(true);
    expect(configError(() => defencesFromFlags({ 'travel-max-kmh': '-5' }))).toBe(true);
    expect(configError(() => defencesFromFlags({ 'keep-devices': 'many' }))).toBe(true);
  });
});
