// Property tests of the path normalizer (fast-check; a failure prints its seed and the shrunk
// counterexample): its output is canonical and stable, and no spelling of /admin that it
// accepts can slip past a policy that guards /admin by prefix.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate } from './policy/index.ts';
import { isLanyardError } from './errors.ts';
import { createPathNormalizer, normalizePath, type NormalizedPath } from './path.ts';
import { policy, viewOf, WEB } from '../test/helpers/policy-fixtures.ts';

const RUNS = { numRuns: 2000 };

// Pieces chosen to hit the tricky cases: dots, escapes, slashes, backslashes, separators.
const PIECES = [
  'a',
  'B',
  '.',
  '..',
  '/',
  '//',
  '%2e',
  '%2E',
  '%2f',
  '%5c',
  '%41',
  '%25',
  '%00',
  '%zz',
  '\\',
  ';',
  '?',
  '#',
  '~',
  ':',
  '@',
  '%C3%A9',
  ' ',
];

const rawPath = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 })), { maxLength: 14 })
  .map((pieces) => `/${pieces.join('')}`);

function tryNormalize(normalize: (raw: string) => NormalizedPath, raw: string): string | undefined {
  try {
    return normalize(raw);
  } catch (error) {
    if (isLanyardError(error, 'ERR_PATH_INVALID')) return undefined;
    throw error;
  }
}

const lenient = createPathNormalizer({
  escapedSlashes: 'decode',
  backslashes: 'slash',
  semicolons: 'strip',
  caseSensitive: false,
});
const normalizers = { default: normalizePath, lenient };

// Anything a canonical path may not hold: empty segments, dot segments (also escaped),
// escaped slashes and backslashes, raw backslashes, query, fragment, NUL.
const NOT_CANONICAL = /\/\/|\/\.\.?(\/|$)|%2[fF]|%5[cC]|%2[eE]|[?#\\\0]/;

describe.each(Object.entries(normalizers))('normalizePath properties (%s options)', (_, normalize) => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const out = tryNormalize(normalize, raw);
        if (out !== undefined) expect(normalize(out)).toBe(out);
      }),
      RUNS,
    );
  });

  it('never yields empty, dot or double-slash segments, escaped slashes, or query and fragment', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const out = tryNormalize(normalize, raw);
        if (out === undefined) return;
        expect(out.startsWith('/')).toBe(true);
        expect(out).not.toMatch(NOT_CANONICAL);
      }),
      RUNS,
    );
  });

  it('accepts a good share of the generated paths (the generator is not trivially refused)', () => {
    const sample = fc.sample(rawPath, { numRuns: 2000, seed: 4 });
    expect(sample.filter((raw) => tryNormalize(normalize, raw) !== undefined).length).toBeGreaterThan(200);
  });
});

// ---- Bypass encodings of /admin -------------------------------------------------------------

const hex = (char: string) => char.charCodeAt(0).toString(16).padStart(2, '0');

/** One character of a segment: as it is, or percent-encoded with upper or lower hex. */
const spelledChar = (char: string) =>
  fc.constantFrom(char, `%${hex(char).toUpperCase()}`, `%${hex(char).toLowerCase()}`);

/** A segment spelled character by character. */
const spelledSegment = (segment: string) =>
  fc.tuple(...[...segment].map(spelledChar)).map((chars) => chars.join(''));

/** Noise that means nothing after normalization: "", ".", "%2e", or "x/.." (a segment undone). */
const noise = fc.oneof(
  fc.constant(''),
  fc.constantFrom('.', '%2e', '%2E'),
  fc
    .tuple(fc.stringMatching(/^[a-z0-9_~-]{1,6}$/), fc.constantFrom('..', '%2e%2e', '.%2E', '%2E.'))
    .map(([segment, up]) => `${segment}/${up}`),
);

/** Segments separated by "/" (or, for the lenient normalizer, also "\\", "%2f", "%5C"). */
function encodingOf(segments: readonly string[], separators: readonly string[], suffixes: readonly string[]) {
  const separator = fc.constantFrom(...separators);
  return fc
    .tuple(
      fc.tuple(...segments.map(spelledSegment)),
      fc.array(fc.tuple(fc.nat(segments.length), noise), { maxLength: 4 }),
      fc.array(separator, { minLength: 40, maxLength: 40 }),
      fc.constantFrom(...suffixes),
    )
    .map(([spelled, inserts, seps, suffix]) => {
      const parts: string[] = [...spelled];
      for (const [at, extra] of inserts.sort((a, b) => b[0] - a[0])) parts.splice(at, 0, extra);
      return parts.map((part, i) => `${seps[i % seps.length]}${part}`).join('') + suffix;
    });
}

const STRICT_SUFFIXES = ['', '/', '/.', '?x=1', '#frag', '/%2e', '?a/../b'];
const guarded = [['admin'], ['admin', 'users'], ['admin', 'users', '42']];

const noAdmin = viewOf([
  policy('no-admin', {
    action: 'DENY',
    rules: [{ name: 'nobody', to: [{ paths: ['/admin', '/admin/{**}'] }] }],
  }),
  policy('open', { action: 'ALLOW', rules: [{ name: 'everyone', from: [{ principals: [WEB] }] }] }),
]);

describe('no accepted spelling of /admin gets past a DENY on /admin and /admin/{**}', () => {
  it.each(guarded.map((segments) => [`/${segments.join('/')}`, segments]))(
    '%s, default options: always accepted, always denied',
    (_, segments) => {
      fc.assert(
        fc.property(encodingOf(segments, ['/', '//'], STRICT_SUFFIXES), (raw) => {
          const path = normalizePath(raw);
          const decision = evaluate(noAdmin, {
            method: 'GET',
            host: 'orders.shop',
            port: 8080,
            path,
            peer: WEB,
          });
          expect(decision.decision).toBe('DENY');
          expect(decision.decidedBy?.rule).toBe('nobody');
        }),
        RUNS,
      );
    },
  );

  it('default options refuse escaped slashes, backslashes and path parameters rather than guess', () => {
    fc.assert(
      fc.property(
        encodingOf(['admin'], ['/%2f', '\\', '/%5C', '/;x=1/'], ['']).filter((raw) =>
          /%2f|\\|%5C|;/.test(raw),
        ),
        (raw) => {
          expect(tryNormalize(normalizePath, raw)).toBeUndefined();
        },
      ),
      RUNS,
    );
  });

  it('lenient options (decode %2F and %5C, "\\" as "/", strip ";", any case) still land on /admin', () => {
    const upper = (raw: string) => fc.constantFrom(raw, raw.toUpperCase());
    const arbitrary = encodingOf(
      ['admin', 'users'],
      ['/', '\\', '%2f', '%2F', '%5c', '//'],
      ['', '/', ';jsessionid=1', '?q'],
    ).chain(upper);
    fc.assert(
      fc.property(arbitrary, (raw) => {
        const out = tryNormalize(lenient, raw);
        // A refusal cannot be a bypass; an accepted spelling must name /admin/users.
        if (out !== undefined) expect(out === '/admin/users' || out === '/admin/users/').toBe(true);
      }),
      RUNS,
    );
    const accepted = fc
      .sample(arbitrary, { numRuns: 500, seed: 7 })
      .filter((raw) => tryNormalize(lenient, raw));
    expect(accepted.length).toBeGreaterThan(100);
  });
});
