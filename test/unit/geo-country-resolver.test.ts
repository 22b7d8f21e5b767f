import { describe, expect, it } from 'vitest';
import type { CountryResolver } from '../../controller/monitor/country.ts';
import { openGeoDatabase } from '../../lib/geo.ts';

describe('lib/geo as the mesh monitor country resolver', () => {
  it('satisfies CountryResolver and answers from the packaged database', () => {
    const resolver: CountryResolver = openGeoDatabase();
    expect(resolver.country('81.2.69.160')).toBe('GB');
    expect(resolver.country('10.0.0.1')).toBeUndefined();
  }, 30_000);
});
