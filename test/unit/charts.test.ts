// Generated chart files stay current: the CRD chart's copies of crds/*.yaml and the
// values table of the lanyard chart's README.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { chartReadme, documentedValues } from '../../charts/generate-readme.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

describe('charts', () => {
  it('carry the current crds/authpolicy.yaml and crds/authblock.yaml in lanyard-crds (bash charts/sync-crds.sh)', async () => {
    await expect(run('bash', [`${root}charts/sync-crds.sh`, '--check'])).resolves.toBeDefined();
  });

  it('have a current values table in charts/lanyard/README.md (npx tsx charts/generate-readme.ts)', async () => {
    const { current, expected } = await chartReadme();
    expect(current).toBe(expected);
  });

  it('refuse a values.yaml with an undocumented value', () => {
    const values = ['# -- Documented.', 'a: 1', 'b:', '  # -- Documented too.', '  c: 2', '  d: 3', ''].join(
      '\n',
    );
    expect(() => documentedValues(values)).toThrow(/no "# --" comment documents b\.d$/);
  });

  it('read multi-line comments, nested keys and defaults', () => {
    const values = ['# -- First line', '# second line.', 'x:', '  # -- Nested.', '  y: [1]', ''].join('\n');
    expect(documentedValues(values)).toEqual([
      { key: 'x', type: 'object', default: { y: [1] }, description: 'First line second line.' },
      { key: 'x.y', type: 'list', default: [1], description: 'Nested.' },
    ]);
  });
});
