import { describe, expect, it } from 'vitest';
import { parseCountryTable } from './country.ts';
import { readCountryTable } from '../../test/helpers/monitor-replay.ts';
import { DistinctCounter, SlidingCounter } from './window.ts';

describe('SlidingCounter', () => {
  it('counts within the window ending at the latest event, out-of-order arrivals included', () => {
    const counter = new SlidingCounter({ windowMs: 1000, maxKeys: 10, maxPerKey: 100 });
    expect(counter.add('a', 100).count).toBe(1);
    expect(counter.add('a', 900).count).toBe(2);
    expect(counter.add('a', 500)).toEqual({ count: 3, firstMs: 100, lastMs: 900 });
    expect(counter.add('a', 1100)).toEqual({ count: 3, firstMs: 500, lastMs: 1100 });
  });

  it('keeps at most maxPerKey timestamps and evicts the least recently touched key', () => {
    const counter = new SlidingCounter({ windowMs: 10_000, maxKeys: 2, maxPerKey: 3 });
    for (let t = 0; t < 10; t += 1) counter.add('a', t);
    expect(counter.add('a', 10).count).toBe(3);
    counter.add('b', 0);
    counter.add('a', 11);
    counter.add('c', 0);
    expect([counter.has('a'), counter.has('b'), counter.has('c'), counter.evicted]).toEqual([
      true,
      false,
      true,
      1,
    ]);
  });

  it('prunes keys with nothing left in the window', () => {
    const counter = new SlidingCounter({ windowMs: 1000, maxKeys: 10, maxPerKey: 10 });
    counter.add('a', 0);
    counter.add('b', 800);
    counter.prune(1500);
    expect([counter.has('a'), counter.has('b')]).toEqual([false, true]);
  });

  it('refuses bounds that are not positive integers', () => {
    expect(() => new SlidingCounter({ windowMs: 0, maxKeys: 1, maxPerKey: 1 })).toThrow(TypeError);
  });
});

describe('DistinctCounter', () => {
  it('counts distinct values in the window, forgetting those last seen before it', () => {
    const counter = new DistinctCounter({ windowMs: 1000, maxKeys: 10, maxPerKey: 10 });
    counter.add('t', 'x', 0);
    counter.add('t', 'y', 500);
    expect(counter.add('t', 'x', 700).count).toBe(2);
    expect(counter.add('t', 'z', 1600)).toEqual({ count: 2, firstMs: 600, lastMs: 1600, values: ['x', 'z'] });
  });

  it('keeps at most maxPerKey values', () => {
    const counter = new DistinctCounter({ windowMs: 1000, maxKeys: 10, maxPerKey: 4 });
    for (let i = 0; i < 100; i += 1) counter.add('t', `v${i}`, i);
    expect(counter.add('t', 'w', 100).values).toEqual(['v97', 'v98', 'v99', 'w']);
  });
});

describe('parseCountryTable', () => {
  const table = parseCountryTable(readCountryTable());

  it.each([
    ['198.51.100.7', 'US'],
    ['203.0.113.255', 'JP'],
    ['192.0.2.1', 'DE'],
    ['192.0.3.1', undefined],
    ['2001:db8:2::1', 'FR'],
    ['2001:db8:1:ffff::1', 'BE'],
    ['::ffff:198.51.100.7', undefined],
    ['not an address', undefined],
  ])('%s is in %s', (address, country) => {
    expect(table.country(address)).toBe(country);
  });

  it.each(['10.0.0.0/33,US', '10.0.0.0/8,usa', '10.0.0.0,US', 'garbage'])('refuses the line %j', (line) => {
    expect(() => parseCountryTable(line)).toThrow(/CIDR,CC/);
  });
});
