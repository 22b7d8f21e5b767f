import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLanyardError } from '../../lib/errors.ts';
import { fixtures, render, T0 } from '../../test/fixtures/monitor/generate.ts';
import { readCountryTable, readRecorded, toReceived } from '../../test/helpers/monitor-replay.ts';
import { parseCountryTable } from './country.ts';
import { Monitor, resolveDetectorConfig, type Detection, type DetectorConfig } from './detectors.ts';
import { validateEvent } from './event.ts';

/** Replays a recorded stream through validation and the detectors, as the server does. */
function replay(name: string, config: Partial<DetectorConfig> = {}, withCountries = true): Detection[] {
  const monitor = new Monitor(
    resolveDetectorConfig(config),
    withCountries ? parseCountryTable(readCountryTable()) : undefined,
  );
  const found: Detection[] = [];
  for (const { reporter, event } of readRecorded(name)) {
    const verdict = validateEvent(toReceived(event), reporter, event.timeUnixMs);
    if (!verdict.ok) throw new Error(`fixture event invalid: ${verdict.field}`);
    found.push(...monitor.observe(verdict.event));
  }
  return found;
}

describe('recorded streams', () => {
  it.each(Object.entries(fixtures()))('%s is what generate.ts makes today', (name, events) => {
    expect(readFileSync(new URL(`../../test/fixtures/monitor/${name}`, import.meta.url), 'utf8')).toBe(
      render(events),
    );
  });

  it('quiet traffic raises nothing with the default thresholds', () => {
    expect(replay('quiet.jsonl')).toEqual([]);
  });

  it('a denial spike is reported once per principal and once per user, with its window', () => {
    const found = replay('denial-spike.jsonl');
    expect(found).toEqual([
      {
        kind: 'denial-spike',
        subject: { type: 'principal', value: 'spiffe://cluster.local/ns/shop/sa/scraper' },
        windowMs: 60_000,
        threshold: 20,
        count: 20,
        firstMs: T0 + 60_000,
        lastMs: T0 + 60_000 + 19 * 1_333,
      },
      {
        kind: 'denial-spike',
        subject: { type: 'user', value: 'mallory' },
        windowMs: 60_000,
        threshold: 20,
        count: 20,
        firstMs: T0 + 120_000,
        lastMs: T0 + 120_000 + 19 * 2_000,
        detail: { issuer: 'https://login.shop.example' },
      },
    ]);
  });

  it('a lower threshold also catches the callers that carried the user', () => {
    const subjects = replay('denial-spike.jsonl', { denialSpike: { threshold: 12, windowMs: 60_000 } }).map(
      (d) => d.subject.value,
    );
    expect(subjects).toContain('spiffe://cluster.local/ns/shop/sa/web');
    expect(subjects).toContain('mallory');
  });

  it('a stolen token used from new addresses and another country is reported by addresses and by countries', () => {
    const found = replay('token-theft.jsonl');
    expect(found).toEqual([
      {
        kind: 'token-countries',
        subject: { type: 'token', value: 'jti-alice' },
        windowMs: 3_600_000,
        threshold: 2,
        count: 2,
        firstMs: T0,
        lastMs: T0 + 360_000,
        detail: { user: 'alice', countries: ['US', 'JP'] },
      },
      {
        kind: 'token-spread',
        subject: { type: 'token', value: 'jti-alice' },
        windowMs: 600_000,
        threshold: 3,
        count: 3,
        firstMs: T0,
        lastMs: T0 + 420_000,
        detail: { user: 'alice', addresses: ['198.51.100.7', '203.0.113.50', '203.0.113.51'] },
      },
    ]);
  });

  it('without a country table the token detector counts addresses only', () => {
    expect(replay('token-theft.jsonl', {}, false).map((d) => d.kind)).toEqual(['token-spread']);
  });

  it('a burst of forged tokens from one source is reported with its failure kinds; scattered expiries are not', () => {
    const found = replay('forged-tokens.jsonl');
    // The caller that carried the forged tokens made 40 denials too: a spike of its own.
    expect(found.filter((d) => d.kind === 'denial-spike').map((d) => d.subject.value)).toEqual([
      'spiffe://cluster.local/ns/shop/sa/web',
    ]);
    expect(found.filter((d) => d.kind === 'bad-tokens')).toEqual([
      {
        kind: 'bad-tokens',
        subject: { type: 'source', value: '192.0.2.66' },
        windowMs: 60_000,
        threshold: 10,
        count: 10,
        firstMs: T0 + 90_000,
        lastMs: T0 + 90_000 + 9 * 750,
        detail: { failures: { BAD_SIGNATURE: 10 } },
      },
    ]);
  });

  it('a source that keeps sending forged tokens is reported again once its window has passed', () => {
    const found = replay('forged-tokens.jsonl', {
      badTokens: { threshold: 10, windowMs: 10_000, kinds: ['BAD_SIGNATURE'] },
    });
    // Quiet for a window after each report; the next report covers the window then ending.
    const again = found.filter((d) => d.kind === 'bad-tokens');
    expect(again.map((d) => [d.firstMs - T0, d.lastMs - T0])).toEqual([
      [90_000, 96_750],
      [97_500, 107_250],
      [108_000, 117_750],
    ]);
  });
});

describe('resolveDetectorConfig', () => {
  it.each([
    { denialSpike: { threshold: 1, windowMs: 60_000 } },
    { tokenSpread: { threshold: 3, windowMs: 10 } },
    { badTokens: { threshold: 10, windowMs: 25 * 3600_000, kinds: [] } },
    { maxKeys: 0 },
  ])('refuses %j with ERR_CONFIG_INVALID', (partial) => {
    let error: unknown;
    try {
      resolveDetectorConfig(partial);
    } catch (caught) {
      error = caught;
    }
    expect(isLanyardError(error, 'ERR_CONFIG_INVALID')).toBe(true);
  });
});

describe('refusals by a block', () => {
  it('do not count as denials: a blocked caller that retries cannot renew its own block', () => {
    const monitor = new Monitor(resolveDetectorConfig({ denialSpike: { threshold: 3, windowMs: 60_000 } }));
    const denial = (i: number, reason: string) => {
      const verdict = validateEvent(
        toReceived({
          timeUnixMs: T0 + i,
          peerId: 'spiffe://cluster.local/ns/shop/sa/web',
          method: 'GET',
          path: '/admin',
          decision: 'DENY',
          reason,
          latencyMs: 0,
          httpStatus: 403,
        }),
        'spiffe://cluster.local/ns/shop/sa/orders',
        T0 + i,
      );
      if (!verdict.ok) throw new Error(verdict.field);
      return monitor.observe(verdict.event);
    };
    for (let i = 0; i < 50; i += 1) expect(denial(i, 'BLOCKED')).toEqual([]);
    expect([denial(100, 'NO_ALLOW_MATCH'), denial(101, 'NO_ALLOW_MATCH')].flat()).toEqual([]);
    expect(denial(102, 'NO_ALLOW_MATCH').map((d) => d.kind)).toEqual(['denial-spike']);
  });
});

describe('bounded state', () => {
  it('tracks at most maxKeys principals however many deny', () => {
    const monitor = new Monitor(resolveDetectorConfig({ maxKeys: 100 }));
    for (let i = 0; i < 5_000; i += 1) {
      const verdict = validateEvent(
        toReceived({
          timeUnixMs: T0 + i,
          peerId: `spiffe://cluster.local/ns/flood/sa/p${i}`,
          method: 'GET',
          path: '/',
          decision: 'DENY',
          reason: 'NO_ALLOW_MATCH',
          latencyMs: 0,
          httpStatus: 403,
        }),
        'spiffe://cluster.local/ns/shop/sa/orders',
        T0 + i,
      );
      if (!verdict.ok) throw new Error(verdict.field);
      expect(monitor.observe(verdict.event)).toEqual([]);
    }
    const heap = JSON.stringify(monitor, (_key, value: unknown) =>
      value instanceof Map ? [...value.entries()] : value,
    );
    expect(heap.match(/ns\/flood/g)?.length ?? 0).toBeLessThanOrEqual(200);
  });
});
