import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CA_ERRORS } from './errors.ts';

function documented(): Map<string, string> {
  const doc = readFileSync(new URL('../docs/ca.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\|\s*`(ERR_CA_[A-Z0-9_]+)`\s*\|\s*(.+?)\s*\|$/gm)];
  return new Map(rows.map(([, code, meaning]) => [code!, meaning!]));
}

describe('docs/ca.md', () => {
  it('documents every CA error code with its meaning, and no other', () => {
    expect(Object.fromEntries(documented())).toEqual({ ...CA_ERRORS });
  });
});
