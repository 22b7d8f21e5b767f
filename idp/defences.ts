// Login-attack defences beyond the per-account and per-source throttles: credential stuffing,
// impossible travel, and new-device / new-country notices, each with a configurable response.
// The detectors are pure (stuffing.ts, travel.ts); this module applies their verdicts.
import { createHash } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../lib/clock.ts';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import type { GeoLocation, GeoResolver } from '../lib/geo.ts';
import type { Auditor } from './audit.ts';
import { ExpiringSet } from './expiring-set.ts';
import type { NoticeKind, Notifier } from './notify.ts';
import type { IdpStore, UserRecord } from './store/types.ts';
import { StuffingDetector } from './stuffing.ts';
import { impossibleTravel } from './travel.ts';

/** mfa: the login must pass a second factor; block: refuse for a while; notify: the webhook. */
export type DefenceAction = 'mfa' | 'block' | 'notify';

export interface DefenceConfig {
  stuffing: {
    /** Distinct accounts failing from one source within windowMs. */
    accounts: number;
    windowMs: number;
    /** block: the source address is refused for this long. */
    blockMs: number;
    actions: readonly DefenceAction[];
  };
  travel: {
    maxKmh: number;
    toleranceKm: number;
    /** block: this account from this source address is refused for this long. */
    blockMs: number;
    actions: readonly DefenceAction[];
  };
  newDevice: {
    /** Devices and countries remembered per user (the most recently seen). */
    keep: number;
    /** block is not offered: a new device is how every user starts. */
    actions: readonly DefenceAction[];
  };
  /** Sources that the stuffing detector and the blocks remember at once. */
  maxSources: number;
}

export const DEFAULT_DEFENCES: DefenceConfig = Object.freeze({
  stuffing: Object.freeze({
    accounts: 10,
    windowMs: 10 * 60_000,
    blockMs: 15 * 60_000,
    actions: Object.freeze(['block', 'notify'] as DefenceAction[]),
  }),
  travel: Object.freeze({
    maxKmh: 1000,
    toleranceKm: 500,
    blockMs: 15 * 60_000,
    actions: Object.freeze(['mfa', 'notify'] as DefenceAction[]),
  }),
  newDevice: Object.freeze({ keep: 10, actions: Object.freeze(['notify'] as DefenceAction[]) }),
  maxSources: 100_000,
});

function invalid(message: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message);
}

/** "block,notify" → actions; "none" or "" → none. */
export function parseActions(text: string, allowed: readonly DefenceAction[]): DefenceAction[] {
  if (text === 'none' || text === '') return [];
  const actions = text.split(',').map((part) => part.trim());
  for (const action of actions) {
    if (!allowed.includes(action as DefenceAction))
      invalid(`unknown response "${action}" (allowed: ${allowed.join(', ')}, none)`);
  }
  return [...new Set(actions)] as DefenceAction[];
}

function between(value: number, low: number, high: number, what: string): void {
  if (!Number.isFinite(value) || value < low || value > high)
    invalid(`${what} must be from ${low} to ${high}`);
}

/** The defaults with overrides, checked and frozen. */
export function defenceConfig(
  overrides: {
    stuffing?: Partial<DefenceConfig['stuffing']>;
    travel?: Partial<DefenceConfig['travel']>;
    newDevice?: Partial<DefenceConfig['newDevice']>;
    maxSources?: number;
  } = {},
): DefenceConfig {
  const config: DefenceConfig = {
    stuffing: { ...DEFAULT_DEFENCES.stuffing, ...overrides.stuffing },
    travel: { ...DEFAULT_DEFENCES.travel, ...overrides.travel },
    newDevice: { ...DEFAULT_DEFENCES.newDevice, ...overrides.newDevice },
    maxSources: overrides.maxSources ?? DEFAULT_DEFENCES.maxSources,
  };
  between(config.stuffing.accounts, 2, 10_000, 'stuffing accounts');
  between(config.stuffing.windowMs, 1_000, 24 * 3600_000, 'stuffing window (ms)');
  between(config.stuffing.blockMs, 1_000, 24 * 3600_000, 'stuffing block (ms)');
  between(config.travel.maxKmh, 1, 100_000, 'travel max speed (km/h)');
  between(config.travel.toleranceKm, 0, 20_000, 'travel tolerance (km)');
  between(config.travel.blockMs, 1_000, 24 * 3600_000, 'travel block (ms)');
  between(config.newDevice.keep, 1, 1_000, 'devices kept per user');
  between(config.maxSources, 1, 10_000_000, 'max sources');
  if (config.newDevice.actions.includes('block')) invalid('new-device response cannot be block');
  return Object.freeze(config);
}

/** What a login that passed its password must still do; carried in the session until it completes. */
export interface PendingLogin {
  source: string;
  deviceHash: string;
  place: GeoLocation | null;
  /** Nothing of that kind remembered yet: the first login sets the baseline without a notice. */
  deviceBaseline: boolean;
  countryBaseline: boolean;
}

export interface LoginAssessment {
  /** Refuse this login; the audit reason. */
  refuse: string | null;
  /** Detections that require a second factor for this login. */
  stepUp: string[];
  pending: PendingLogin;
}

export interface DefenceDeps {
  store: IdpStore;
  clock: Clock;
  audit: Auditor;
  notifier: Notifier;
  registry: Registry;
  config: DefenceConfig;
  /** Without one, impossible travel and new-country notices are off. */
  geo?: GeoResolver;
}

/** The account key of in-memory state: hashed, so that memory holds no usernames. */
const accountKey = (username: string): string =>
  createHash('sha256').update(username.toLowerCase()).digest('base64url').slice(0, 22);

export class LoginDefences {
  private readonly stuffing: StuffingDetector;
  private readonly blocks: ExpiringSet;
  private readonly detections: Counter<'kind'>;

  constructor(private readonly deps: DefenceDeps) {
    const { config } = deps;
    this.stuffing = new StuffingDetector(deps.clock, {
      accounts: config.stuffing.accounts,
      windowMs: config.stuffing.windowMs,
      maxSources: config.maxSources,
    });
    this.blocks = new ExpiringSet(deps.clock, config.maxSources);
    this.detections = new Counter({
      name: 'lanyard_idp_detections_total',
      help: 'Login-attack detections and notices by kind (credential_stuffing, impossible_travel, new_device, new_country)',
      labelNames: ['kind'],
      registers: [deps.registry],
    });
  }

  /** A device ID as stored: bound to the user, so one device's rows do not link accounts. */
  static deviceHash(userId: string, deviceId: string): string {
    return createHash('sha256').update(`${userId}\0${deviceId}`).digest('hex');
  }

  /** Checked before the password: a standing block, and why. */
  blocked(source: string, username: string): { until: number; reason: string } | null {
    const bySource = this.blocks.heldUntil(`source:${source}`);
    if (bySource !== null) return { until: bySource, reason: 'source_blocked_stuffing' };
    const byTravel = this.blocks.heldUntil(`travel:${accountKey(username)}:${source}`);
    if (byTravel !== null) return { until: byTravel, reason: 'travel_blocked' };
    return null;
  }

  /** A failed password: feeds the stuffing detector, and responds when it fires. */
  async failed(source: string, username: string): Promise<void> {
    if (!this.stuffing.failed(source, accountKey(username))) return;
    const { stuffing } = this.deps.config;
    if (stuffing.actions.includes('block'))
      this.blocks.add(`source:${source}`, this.deps.clock.now() + stuffing.blockMs);
    await this.detected('credential_stuffing', stuffing.actions, {
      username,
      userId: null,
      source,
      country: this.deps.geo?.country(source) ?? null,
      detail: { accounts: stuffing.accounts, windowSeconds: Math.round(stuffing.windowMs / 1000) },
    });
  }

  /** A correct password: what else this login needs. Notices wait for completed(). */
  async assess(user: UserRecord, source: string, deviceId: string): Promise<LoginAssessment> {
    const { store, config, clock } = this.deps;
    const place = this.deps.geo?.locate(source) ?? null;
    const deviceHash = LoginDefences.deviceHash(user.id, deviceId);
    const [devices, countries] = await Promise.all([
      store.loginMarks(user.id, 'device', config.newDevice.keep),
      store.loginMarks(user.id, 'country', config.newDevice.keep),
    ]);
    const pending: PendingLogin = {
      source,
      deviceHash,
      place,
      deviceBaseline: devices.length === 0,
      countryBaseline: countries.length === 0,
    };
    const stepUp: string[] = [];
    let refuse: string | null = null;

    if (this.stuffing.detected(source) && config.stuffing.actions.includes('mfa'))
      stepUp.push('credential_stuffing');

    const last = place ? await store.lastLogin(user.id) : null;
    const travel =
      place && last?.place
        ? impossibleTravel({ ...last.place, at: last.at }, { ...place, at: clock.now() }, config.travel)
        : null;
    if (travel) {
      const actions = config.travel.actions;
      if (actions.includes('block')) {
        this.blocks.add(`travel:${accountKey(user.username)}:${source}`, clock.now() + config.travel.blockMs);
        refuse = 'impossible_travel';
      } else if (actions.includes('mfa')) stepUp.push('impossible_travel');
      await this.detected('impossible_travel', actions, {
        username: user.username,
        userId: user.id,
        source,
        country: place!.country,
        detail: {
          distanceKm: Math.round(travel.distanceKm),
          minutesSinceLastLogin: Math.round(travel.elapsedMs / 60_000),
          previousCountry: last!.place!.country,
        },
      });
    }

    const newDevice = !pending.deviceBaseline && !devices.includes(deviceHash);
    const newCountry = place !== null && !pending.countryBaseline && !countries.includes(place.country);
    if ((newDevice || newCountry) && config.newDevice.actions.includes('mfa')) stepUp.push('new_device');
    return { refuse, stepUp, pending };
  }

  /** The login is complete: remember where from, and send the new-device notices (once each). */
  async completed(user: UserRecord, pending: PendingLogin): Promise<void> {
    const { store, clock, config } = this.deps;
    const now = clock.now();
    const { keep, actions } = config.newDevice;
    const newDevice = await store.touchLoginMark(user.id, 'device', pending.deviceHash, now, keep);
    const newCountry = pending.place
      ? await store.touchLoginMark(user.id, 'country', pending.place.country, now, keep)
      : false;
    await store.setLastLogin({ userId: user.id, at: now, source: pending.source, place: pending.place });
    const base = {
      username: user.username,
      userId: user.id,
      source: pending.source,
      country: pending.place?.country ?? null,
      detail: {},
    };
    if (newDevice && !pending.deviceBaseline) await this.detected('new_device', actions, base);
    if (newCountry && !pending.countryBaseline) await this.detected('new_country', actions, base);
  }

  private async detected(
    kind: NoticeKind,
    actions: readonly DefenceAction[],
    what: {
      username: string | null;
      userId: string | null;
      source: string;
      country: string | null;
      detail: Record<string, number | string>;
    },
  ): Promise<void> {
    this.detections.inc({ kind });
    await this.deps.audit.record({
      event: kind,
      username: what.username,
      userId: what.userId,
      source: what.source,
      outcome: 'security',
      reason: actions.length ? actions.join('+') : 'none',
    });
    if (actions.includes('notify')) {
      this.deps.notifier.notify({
        kind,
        at: this.deps.clock.now(),
        ...what,
        actions: actions.filter((action) => action !== 'notify'),
      });
    }
  }
}
