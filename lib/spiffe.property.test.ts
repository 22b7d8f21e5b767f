// Property tests of the SPIFFE ID parser (fast-check): every well-formed ID parses back to the
// same parts and the same text, and every one of the spec's forbidden forms is refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLanyardError } from './errors.ts';
import { parseSpiffeId, workloadIdentityOf, workloadSpiffeId } from './spiffe.ts';

const RUNS = { numRuns: 2000 };

const trustDomain = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,30}$/);
const segment = fc.stringMatching(/^[a-zA-Z0-9._-]{1,20}$/).filter((s) => s !== '.' && s !== '..');
const segments = fc.array(segment, { maxLength: 6 });
const format = (td: string, path: readonly string[]) => `spiffe://${td}${path.map((s) => `/${s}`).join('')}`;

function refused(value: string): boolean {
  try {
    parseSpiffeId(value);
    return false;
  } catch (error) {
    if (isLanyardError(error, 'ERR_SPIFFE_ID_INVALID')) return true;
    throw error;
  }
}

describe('parseSpiffeId properties', () => {
  it('parse ∘ format is the identity, on the parts and on the text', () => {
    fc.assert(
      fc.property(trustDomain, segments, (td, path) => {
        const text = format(td, path);
        const id = parseSpiffeId(text);
        expect(id.trustDomain).toBe(td);
        expect(id.segments).toEqual(path);
        expect(id.toString()).toBe(text);
        expect(parseSpiffeId(id.toString()).toString()).toBe(text);
      }),
      RUNS,
    );
  });

  it('workload IDs round-trip through workloadSpiffeId and workloadIdentityOf', () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
    fc.assert(
      fc.property(trustDomain, label, label, (td, namespace, serviceAccount) => {
        const id = workloadSpiffeId({ trustDomain: td, namespace, serviceAccount });
        expect(workloadIdentityOf(parseSpiffeId(id.toString()))).toEqual({
          trustDomain: td,
          namespace,
          serviceAccount,
        });
      }),
      RUNS,
    );
  });

  /** A well-formed ID, broken in one of the ways the SPIFFE spec forbids. */
  const broken = fc
    .tuple(
      trustDomain,
      segments,
      fc.nat(),
      fc.stringMatching(/^[A-Z]$/),
      fc.stringMatching(/^[0-9A-Fa-f]{2}$/),
    )
    .chain(([td, path, at, upper, hexPair]) => {
      const spot = at % (path.length + 1);
      const withSegment = (bad: string) => format(td, [...path.slice(0, spot), bad, ...path.slice(spot)]);
      const tdAt = at % td.length;
      return fc.constantFrom(
        ['uppercase trust domain', format(`${td.slice(0, tdAt)}${upper}${td.slice(tdAt)}`, path)],
        ['empty segment', withSegment('')],
        ['dot segment', withSegment('.')],
        ['dot-dot segment', withSegment('..')],
        ['trailing slash', `${format(td, path)}/`],
        ['percent-encoding', withSegment(`a%${hexPair}`)],
        ['query', `${format(td, path)}?x=1`],
        ['fragment', `${format(td, path)}#frag`],
        ['port', format(`${td}:${(at % 65535) + 1}`, path)],
        ['userinfo', format(`user@${td}`, path)],
        ['empty trust domain', format('', path)],
        ['other scheme', format(td, path).replace('spiffe://', 'SPIFFE://')],
      );
    });

  it('refuses uppercase trust domains, empty and dot segments, escapes, query, fragment, port and userinfo', () => {
    fc.assert(
      fc.property(broken, ([, value]) => {
        expect(refused(value)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
