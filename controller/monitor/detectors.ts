// Detectors over validated decision events. Each is configured by a threshold and a window,
// keeps bounded state (window.ts), and reports a key at most once per window: after a
// detection, the key is quiet until the window that fired has passed.
import { LanyardError, type CoreErrorCode } from '../../lib/errors.ts';
import type { CountryResolver } from './country.ts';
import type { MonitorEvent, TokenFailureKind } from './event.ts';
import { DistinctCounter, SlidingCounter, type WindowCount } from './window.ts';

export type DetectionKind =
  | 'denial-spike'
  | 'token-spread'
  | 'token-countries'
  | 'bad-tokens'
  // Reported by the identity provider (idp-notices.ts), not detected here.
  | 'idp-credential-stuffing'
  | 'idp-impossible-travel';
export type SubjectType = 'principal' | 'user' | 'token' | 'source';

export interface Detection {
  kind: DetectionKind;
  subject: { type: SubjectType; value: string };
  windowMs: number;
  threshold: number;
  count: number;
  firstMs: number;
  lastMs: number;
  /** Bounded context: the distinct addresses or countries, or counts by failure kind. */
  detail?: Record<string, unknown>;
}

export interface Detector {
  observe(event: MonitorEvent): Detection[];
  prune(now: number): void;
}

export interface ThresholdConfig {
  threshold: number;
  windowMs: number;
}

export interface DetectorConfig {
  /** Denials from one principal or one user. Default 20 in 1 min. */
  denialSpike: ThresholdConfig;
  /** Distinct source addresses using one token id. Default 3 in 10 min. */
  tokenSpread: ThresholdConfig;
  /** Distinct countries using one token id (needs a country table). Default 2 in 1 h. */
  tokenCountries: ThresholdConfig;
  /** Expired or forged tokens from one source address. Default 10 in 1 min. */
  badTokens: ThresholdConfig & { kinds: readonly TokenFailureKind[] };
  /** Most keys each detector tracks. Default 10 000. */
  maxKeys: number;
}

export const DEFAULT_DETECTOR_CONFIG: Readonly<DetectorConfig> = Object.freeze({
  denialSpike: { threshold: 20, windowMs: 60_000 },
  tokenSpread: { threshold: 3, windowMs: 10 * 60_000 },
  tokenCountries: { threshold: 2, windowMs: 60 * 60_000 },
  badTokens: {
    threshold: 10,
    windowMs: 60_000,
    kinds: [
      'EXPIRED',
      'BAD_SIGNATURE',
      'UNKNOWN_ISSUER',
      'UNKNOWN_KEY',
      'ALGORITHM_NOT_ALLOWED',
      'MALFORMED',
    ] as TokenFailureKind[],
  },
  maxKeys: 10_000,
});

const MAX_WINDOW_MS = 24 * 3600_000;
const MAX_THRESHOLD = 100_000;

function checkThreshold(name: string, config: ThresholdConfig): void {
  const ok =
    Number.isSafeInteger(config.threshold) &&
    config.threshold >= 2 &&
    config.threshold <= MAX_THRESHOLD &&
    Number.isSafeInteger(config.windowMs) &&
    config.windowMs >= 1000 &&
    config.windowMs <= MAX_WINDOW_MS;
  if (!ok) {
    throw new LanyardError<CoreErrorCode>(
      'ERR_CONFIG_INVALID',
      `${name}: threshold must be 2..${MAX_THRESHOLD} and windowMs 1000..${MAX_WINDOW_MS}`,
      { threshold: config.threshold, windowMs: config.windowMs },
    );
  }
}

/** Fills defaults and checks every bound; throws ERR_CONFIG_INVALID. */
export function resolveDetectorConfig(partial: Partial<DetectorConfig> = {}): DetectorConfig {
  const config: DetectorConfig = {
    denialSpike: { ...DEFAULT_DETECTOR_CONFIG.denialSpike, ...partial.denialSpike },
    tokenSpread: { ...DEFAULT_DETECTOR_CONFIG.tokenSpread, ...partial.tokenSpread },
    tokenCountries: { ...DEFAULT_DETECTOR_CONFIG.tokenCountries, ...partial.tokenCountries },
    badTokens: { ...DEFAULT_DETECTOR_CONFIG.badTokens, ...partial.badTokens },
    maxKeys: partial.maxKeys ?? DEFAULT_DETECTOR_CONFIG.maxKeys,
  };
  checkThreshold('denialSpike', config.denialSpike);
  checkThreshold('tokenSpread', config.tokenSpread);
  checkThreshold('tokenCountries', config.tokenCountries);
  checkThreshold('badTokens', config.badTokens);
  if (!Number.isSafeInteger(config.maxKeys) || config.maxKeys < 1 || config.maxKeys > 1_000_000) {
    throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', 'maxKeys must be 1..1000000', {
      maxKeys: config.maxKeys,
    });
  }
  return config;
}

/** Remembers, per key, until when a detection keeps it quiet. Bounded like the windows. */
class Quiet {
  private readonly until = new Map<string, number>();

  constructor(private readonly maxKeys: number) {}

  isQuiet(key: string, timeMs: number): boolean {
    const until = this.until.get(key);
    return until !== undefined && timeMs < until;
  }

  hold(key: string, untilMs: number): void {
    this.until.delete(key);
    if (this.until.size >= this.maxKeys) this.until.delete(this.until.keys().next().value as string);
    this.until.set(key, untilMs);
  }

  prune(now: number): void {
    for (const [key, until] of this.until) if (until <= now) this.until.delete(key);
  }
}

/** Fires when `count` reaches the threshold for a key that is not quiet. */
function fire(
  quiet: Quiet,
  config: ThresholdConfig,
  kind: DetectionKind,
  subject: Detection['subject'],
  window: WindowCount,
  detail?: Record<string, unknown>,
): Detection[] {
  const key = `${kind}\u0000${subject.type}\u0000${subject.value}`;
  if (window.count < config.threshold || quiet.isQuiet(key, window.lastMs)) return [];
  quiet.hold(key, window.lastMs + config.windowMs);
  return [
    {
      kind,
      subject,
      windowMs: config.windowMs,
      threshold: config.threshold,
      count: window.count,
      firstMs: window.firstMs,
      lastMs: window.lastMs,
      ...(detail && { detail }),
    },
  ];
}

/** (a) A spike of denials from one principal or from one user. */
export function denialSpikeDetector(config: ThresholdConfig, maxKeys: number): Detector {
  const bounds = { windowMs: config.windowMs, maxKeys, maxPerKey: config.threshold * 4 };
  const byPrincipal = new SlidingCounter(bounds);
  const byUser = new SlidingCounter(bounds);
  const quiet = new Quiet(maxKeys * 2);
  return {
    observe(event) {
      // A refusal by a block is the block working, not new evidence: counting it would let an
      // automatic block renew itself for as long as the blocked caller retries, never expiring.
      if (event.decision !== 'DENY' || event.reason === 'BLOCKED') return [];
      const found: Detection[] = [];
      if (event.peer) {
        const window = byPrincipal.add(event.peer, event.timeMs);
        found.push(...fire(quiet, config, 'denial-spike', { type: 'principal', value: event.peer }, window));
      }
      if (event.user) {
        // Subjects are unique per issuer only; the key names both, the subject shows the user.
        const window = byUser.add(`${event.issuer ?? ''} ${event.user}`, event.timeMs);
        const detail = event.issuer ? { issuer: event.issuer } : undefined;
        found.push(
          ...fire(quiet, config, 'denial-spike', { type: 'user', value: event.user }, window, detail),
        );
      }
      return found;
    },
    prune(now) {
      byPrincipal.prune(now);
      byUser.prune(now);
      quiet.prune(now);
    },
  };
}

const MAX_DETAIL_VALUES = 16;

/**
 * (b) One user token used from many source addresses (and, given a country table, from many
 * countries) within a short window. Only tokens the sidecar verified count: a forged token can
 * carry any id.
 */
export function tokenSpreadDetector(
  addresses: ThresholdConfig,
  countries: ThresholdConfig,
  maxKeys: number,
  resolver?: CountryResolver,
): Detector {
  const byAddress = new DistinctCounter({
    windowMs: addresses.windowMs,
    maxKeys,
    maxPerKey: addresses.threshold * 4,
  });
  const byCountry = new DistinctCounter({
    windowMs: countries.windowMs,
    maxKeys,
    maxPerKey: countries.threshold * 4,
  });
  const quiet = new Quiet(maxKeys * 2);
  return {
    observe(event) {
      if (!event.tokenId || !event.source || event.tokenFailure) return [];
      const subject = { type: 'token' as const, value: event.tokenId };
      const user = event.user ? { user: event.user } : {};
      const window = byAddress.add(event.tokenId, event.source, event.timeMs);
      const found = fire(quiet, addresses, 'token-spread', subject, window, {
        ...user,
        addresses: window.values.slice(-MAX_DETAIL_VALUES),
      });
      const country = resolver?.country(event.source);
      if (country) {
        const spread = byCountry.add(event.tokenId, country, event.timeMs);
        found.push(
          ...fire(quiet, countries, 'token-countries', subject, spread, {
            ...user,
            countries: spread.values.slice(-MAX_DETAIL_VALUES),
          }),
        );
      }
      return found;
    },
    prune(now) {
      byAddress.prune(now);
      byCountry.prune(now);
      quiet.prune(now);
    },
  };
}

/** (c) Expired or forged tokens arriving from one source address. */
export function badTokensDetector(config: DetectorConfig['badTokens'], maxKeys: number): Detector {
  const kinds = new Set(config.kinds);
  const bySource = new SlidingCounter({
    windowMs: config.windowMs,
    maxKeys,
    maxPerKey: config.threshold * 4,
  });
  // Counts by failure kind for the detail: since the source last fired or left the window.
  const breakdown = new Map<string, Map<TokenFailureKind, number>>();
  const quiet = new Quiet(maxKeys);
  return {
    observe(event) {
      if (!event.tokenFailure || !kinds.has(event.tokenFailure) || !event.source) return [];
      const window = bySource.add(event.source, event.timeMs);
      let counts = breakdown.get(event.source);
      if (!counts) {
        if (breakdown.size >= maxKeys) breakdown.delete(breakdown.keys().next().value as string);
        counts = new Map();
        breakdown.set(event.source, counts);
      }
      counts.set(event.tokenFailure, (counts.get(event.tokenFailure) ?? 0) + 1);
      const found = fire(quiet, config, 'bad-tokens', { type: 'source', value: event.source }, window, {
        failures: Object.fromEntries(counts),
      });
      if (found.length > 0) breakdown.delete(event.source);
      return found;
    },
    prune(now) {
      bySource.prune(now);
      quiet.prune(now);
      for (const source of breakdown.keys()) if (!bySource.has(source)) breakdown.delete(source);
    },
  };
}

/** All detectors behind one `observe`. */
export class Monitor implements Detector {
  private readonly detectors: Detector[];

  constructor(config: DetectorConfig, resolver?: CountryResolver) {
    this.detectors = [
      denialSpikeDetector(config.denialSpike, config.maxKeys),
      tokenSpreadDetector(config.tokenSpread, config.tokenCountries, config.maxKeys, resolver),
      badTokensDetector(config.badTokens, config.maxKeys),
    ];
  }

  observe(event: MonitorEvent): Detection[] {
    return this.detectors.flatMap((detector) => detector.observe(event));
  }

  prune(now: number): void {
    for (const detector of this.detectors) detector.prune(now);
  }
}
