// Property tests of the path normalizer over many generated paths (a seeded generator, so a
// failure reproduces): the output is canonical, and normalizing it again changes nothing.
import { describe, expect, it } from 'vitest';
import { isLanyardError } from './errors.ts';
import { createPathNormalizer, normalizePath, type NormalizedPath } from './path.ts';

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

function* paths(seed: number, count: number): Generator<string> {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < count; i++) {
    let path = '/';
    const length = next() % 12;
    for (let j = 0; j < length; j++) path += PIECES[next() % PIECES.length];
    yield path;
  }
}

function tryNormalize(normalize: (raw: string) => NormalizedPath, raw: string): string | undefined {
  try {
    return normalize(raw);
  } catch (error) {
    if (isLanyardError(error, 'ERR_PATH_INVALID')) return undefined;
    throw error;
  }
}

const normalizers = {
  default: normalizePath,
  lenient: createPathNormalizer({
    escapedSlashes: 'decode',
    backslashes: 'slash',
    semicolons: 'strip',
    caseSensitive: false,
  }),
};

describe.each(Object.entries(normalizers))('normalizePath properties (%s options)', (_, normalize) => {
  const outputs = [...paths(20240229, 20000)]
    .map((raw) => tryNormalize(normalize, raw))
    .filter((out) => out !== undefined);

  it('accepts a good share of the generated paths (the generator is not trivially refused)', () => {
    expect(outputs.length).toBeGreaterThan(1000);
  });

  it('is idempotent', () => {
    expect(outputs.filter((out) => normalize(out) !== out)).toEqual([]);
  });

  it('never yields empty, dot or double-slash segments, escaped slashes, or query and fragment', () => {
    const bad = /\/\/|\/\.\.?(\/|$)|%2[fF]|%5[cC]|[?#\\\0]|%2[eE]/;
    expect(outputs.filter((out) => !out.startsWith('/') || bad.test(out))).toEqual([]);
  });
});
