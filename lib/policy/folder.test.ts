import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicyFolder, watchPolicyFolder } from './folder.ts';
import type { LoadedPolicies } from './loader.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-policies-'));
  dirs.push(dir);
  return dir;
}

const policy = (name: string, path = '/x') =>
  `apiVersion: lanyard.dev/v1alpha1\nkind: AuthPolicy\nmetadata: {name: ${name}}\nspec:\n  rules: [{to: [{paths: [${path}]}]}]\n`;

const names = (loaded: LoadedPolicies) => loaded.set.results.filter((r) => r.accepted).map((r) => r.ref.name);

describe('loadPolicyFolder', () => {
  it('reads the .yaml and .yml files of a folder in name order and ignores others', () => {
    const dir = folder();
    writeFileSync(join(dir, 'b.yml'), policy('b'));
    writeFileSync(join(dir, 'a.yaml'), policy('a'));
    writeFileSync(join(dir, 'notes.txt'), 'not a policy');
    expect(names(loadPolicyFolder(dir))).toEqual(['a', 'b']);
  });

  it('does not read a file over the size bound', () => {
    const dir = folder();
    writeFileSync(join(dir, 'big.yaml'), policy('big'));
    const loaded = loadPolicyFolder(dir, { maxFileBytes: 16 });
    expect(loaded.messages).toEqual([`${join(dir, 'big.yaml')}: larger than 16 bytes`]);
  });
});

describe('watchPolicyFolder', () => {
  it('reloads when a file is added or changed, and reports the new result', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.yaml'), policy('a'));
    const loads: LoadedPolicies[] = [];
    let notify: () => void = () => undefined;
    const watcher = watchPolicyFolder(
      dir,
      (loaded) => {
        loads.push(loaded);
        notify();
      },
      (error) => {
        throw error;
      },
      { debounceMs: 20 },
    );
    try {
      expect(names(watcher.initial)).toEqual(['a']);
      const until = (done: () => boolean) =>
        new Promise<void>((resolve) => {
          notify = () => done() && resolve();
        });

      const added = until(() => names(loads.at(-1)!).includes('b'));
      writeFileSync(join(dir, 'b.yaml'), policy('b'));
      await added;

      const broken = until(() => loads.at(-1)!.messages.length > 0);
      writeFileSync(join(dir, 'b.yaml'), policy('b', 'relative'));
      await broken;
      expect(names(loads.at(-1)!)).toEqual(['a']);
      expect(loads.at(-1)!.messages[0]).toContain('b.yaml (default/b): spec.rules[0].to[0].paths[0]');
    } finally {
      watcher.close();
    }
  });
});
