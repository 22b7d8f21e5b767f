import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenId } from './token-facts.ts';

// tokenId as it was written with a regular expression and split(), kept as the oracle.
function referenceTokenId(token: string, jti?: unknown): string {
  if (typeof jti === 'string' && /^[\x21-\x7e]{1,128}$/.test(jti) && jti.split('.').length !== 3) return jti;
  return `sha256:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`;
}

describe('tokenId', () => {
  it('is the jti when usable, else a SHA-256 prefix, as before', () => {
    const jti = fc.oneof(
      fc.string({ maxLength: 140 }),
      fc.constantFrom('a.b.c', 'a.b', 'a..b.c', 'x'.repeat(128), 'x'.repeat(129), ' ', '', 'é'),
      fc.integer(),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), jti, (token, id) => {
        expect(tokenId(token, id)).toBe(referenceTokenId(token, id));
      }),
      { numRuns: 5000 },
    );
  });
});
