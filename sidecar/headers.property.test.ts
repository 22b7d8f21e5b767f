// The header checks' per-request shortcuts (name verdicts remembered per policy, char scans for
// values) against the expressions they replace, kept here as the oracle.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileHeaderPolicy,
  FOREIGN_IDENTITY_HEADERS,
  RESERVED_PREFIX,
  stripIdentityHeaders,
  unsafeValueReason,
  type HeaderList,
  type HeaderPolicy,
} from './headers.ts';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const SAFE_VALUE = /^[\x21-\x7e]([\t\x20-\x7e]*[\x21-\x7e])?$/;

function referenceStrip(headers: HeaderList, policy: HeaderPolicy) {
  const kept: (readonly [string, string])[] = [];
  const removed: string[] = [];
  for (const [name, value] of headers) {
    const normalized = name.toLowerCase().replaceAll('_', '-');
    const identity =
      normalized.startsWith(RESERVED_PREFIX) ||
      FOREIGN_IDENTITY_HEADERS.includes(normalized) ||
      policy.claimHeaders.has(normalized);
    const wellFormed = TOKEN.test(name) && !/[\r\n\0]/.test(value);
    if (!wellFormed || identity) {
      removed.push(TOKEN.test(name) ? name.toLowerCase() : JSON.stringify(name.slice(0, 64)));
    } else {
      kept.push([name, value]);
    }
  }
  return { headers: kept, removed };
}

const NAMES = [
  'Host',
  'authorization',
  'X-Lanyard-User',
  'x_lanyard_peer_id',
  'X-Forwarded-Client-Cert',
  'X-Tenant',
  'x_tenant',
  'x-user-email',
  'accept',
  'bad name',
  'tab\tname',
  'é',
  '',
];
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('ok', ' padded ', 'a\tb', 'line\r\nbreak', 'nul\0', '\x7f', 'é', '\t', ' '),
);
const policy = compileHeaderPolicy({ claimHeaders: ['x-user-email', 'X-Tenant'] });

describe('header shortcuts agree with the expressions they replace', () => {
  it('stripIdentityHeaders, on repeated and new names alike', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 8 })), text), {
          maxLength: 10,
        }),
        (headers) => {
          for (let round = 0; round < 2; round++)
            expect(stripIdentityHeaders(headers, policy)).toEqual(referenceStrip(headers, policy));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('unsafeValueReason', () => {
    fc.assert(
      fc.property(text, (value) => {
        const expected =
          value.length === 0
            ? 'empty'
            : value.length > 8
              ? 'too-long'
              : SAFE_VALUE.test(value)
                ? undefined
                : 'unsafe-characters';
        expect(unsafeValueReason(value, 8)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });
});
