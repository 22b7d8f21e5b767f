import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CORE_ERRORS } from '../lib/errors.ts';
import { SIDECAR_ERRORS } from './errors.ts';

function documentedCodes(): Map<string, string> {
  const doc = readFileSync(new URL('../docs/sidecar-security.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^- `(ERR_[A-Z0-9_]+)`: (.+)$/gm)];
  return new Map(rows.map(([, code, meaning]) => [code!, meaning!]));
}

describe('SIDECAR_ERRORS and docs/sidecar-security.md', () => {
  const documented = documentedCodes();

  it.each(Object.entries(SIDECAR_ERRORS))('documents %s with its meaning', (code, meaning) => {
    expect(documented.get(code)).toBe(meaning);
  });

  it('documents no code that the registry does not declare', () => {
    expect([...documented.keys()].filter((code) => !Object.hasOwn(SIDECAR_ERRORS, code))).toEqual([]);
  });

  it('shares no code with the core registry', () => {
    expect(Object.keys(SIDECAR_ERRORS).filter((code) => Object.hasOwn(CORE_ERRORS, code))).toEqual([]);
  });
});
