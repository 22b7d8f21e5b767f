import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateLoginToken } from './auth.ts';
import { readLoginTokenFile } from './hosting.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-dashboard-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readLoginTokenFile', () => {
  it('reads a mounted token without its trailing newline', () => {
    const token = generateLoginToken();
    writeFileSync(join(dir, 'token'), `${token}\n`);
    expect(readLoginTokenFile(join(dir, 'token'))).toBe(token);
  });

  it('refuses a token too short, with spaces, or a file too large to be one', () => {
    writeFileSync(join(dir, 'short'), 'secret');
    writeFileSync(join(dir, 'spaces'), 'a'.repeat(20) + ' ' + 'b'.repeat(20));
    writeFileSync(join(dir, 'large'), 'a'.repeat(5000));
    for (const name of ['short', 'spaces', 'large']) {
      expect(() => readLoginTokenFile(join(dir, name))).toThrow(/32 to 512 printable ASCII/);
    }
  });
});
