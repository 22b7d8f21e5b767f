import { describe, expect, it } from 'vitest';
import { runCli } from './run.ts';

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('lanyard CLI', () => {
  it('prints help listing its commands', async () => {
    const { code, out } = await run('--help');
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: lanyard <command>/m);
    expect(out).toMatch(/^\s+version\s+Print the Lanyard version$/m);
  });

  it('prints the package version', async () => {
    const { code, out } = await run('version');
    expect(code).toBe(0);
    expect(out).toMatch(/^lanyard 0\.1\.0 \(node v\d+/);
  });

  it('rejects an unknown command with exit code 2 and the usage on stderr', async () => {
    const { code, out, err } = await run('frobnicate');
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('unknown command "frobnicate"');
  });
});
