// Offline address-to-country lookup from a table the operator supplies ("CIDR,CC" per line, e.g.
// exported from a GeoIP database). No database ships with Lanyard, so without a table the
// token-spread detector counts addresses only.
import { isIP } from 'node:net';
import { LanyardError, type CoreErrorCode } from '../../lib/errors.ts';

export interface CountryResolver {
  /** ISO 3166-1 alpha-2 code, or undefined when the address is in no known range. */
  country(address: string): string | undefined;
}

interface Range {
  start: bigint;
  end: bigint;
  country: string;
}

const MAX_TABLE_BYTES = 64 * 1024 * 1024;
const MAX_RANGES = 2_000_000;

function toBigInt(address: string): { value: bigint; bits: 32 | 128 } | undefined {
  const family = isIP(address);
  if (family === 4) {
    const parts = address.split('.').map(Number);
    return {
      value: BigInt(((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!),
      bits: 32,
    };
  }
  if (family !== 6) return undefined;
  let text = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const low = toBigInt(v4[1]!)!.value;
    text = `${text.slice(0, -v4[1]!.length)}${(low >> 16n).toString(16)}:${(low & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const fill: string[] =
    tail === undefined ? [] : Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = [...headGroups, ...fill, ...tailGroups];
  return { value: groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n), bits: 128 };
}

function invalid(message: string, line: number): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message, { line });
}

/** Parses a "CIDR,CC" table (blank lines and '#' comments allowed). IPv4 and IPv6 ranges are kept apart. */
export function parseCountryTable(text: string): CountryResolver {
  if (text.length > MAX_TABLE_BYTES) invalid('country table is too large', 0);
  const tables: Record<32 | 128, Range[]> = { 32: [], 128: [] };
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^([0-9a-fA-F:.]+)\/(\d{1,3})\s*,\s*([A-Z]{2})$/.exec(line);
    const parsed = match && toBigInt(match[1]!);
    const prefix = match ? Number(match[2]) : NaN;
    if (!match || !parsed || prefix > parsed.bits) invalid('country table line is not "CIDR,CC"', index + 1);
    const size = 1n << BigInt(parsed.bits - prefix);
    const start = parsed.value & ~(size - 1n);
    tables[parsed.bits].push({ start, end: start + size - 1n, country: match[3]! });
    if (tables[32].length + tables[128].length > MAX_RANGES)
      invalid('country table has too many ranges', index + 1);
  });
  // Among equal starts the widest first: the backward search below meets the most specific first.
  for (const table of Object.values(tables)) {
    table.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end > b.end ? -1 : 1));
  }
  return {
    country(address) {
      const parsed = toBigInt(address);
      if (!parsed) return undefined;
      const table = tables[parsed.bits];
      // The last range starting at or before the address; nested ranges are searched backwards.
      let low = 0;
      let high = table.length - 1;
      let found = -1;
      while (low <= high) {
        const mid = (low + high) >> 1;
        if (table[mid]!.start <= parsed.value) {
          found = mid;
          low = mid + 1;
        } else high = mid - 1;
      }
      for (let i = found; i >= 0 && i > found - 64; i -= 1) {
        const range = table[i]!;
        if (range.end >= parsed.value) return range.country;
      }
      return undefined;
    },
  };
}
