// The benchmarks run Lanyard as it ships (the image's layout: bin/lanyard.js, compiled
// JavaScript in dist/ and the sidecar's single-file bundle dist/sidecar.cjs), not through tsx:
// built once per commit into ~/.cache/lanyard/bench/build-<commit>, outside the work tree, so
// that no other checkout's dist/ is touched.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { bundleSidecar } from '../../scripts/bundle-sidecar.ts';
import { CACHE } from './tools.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Returns the path of the built `bin/lanyard.js`: `node <SIDECAR_NODE_FLAGS> <it> sidecar` runs
 * a sidecar exactly as the injected container does. LANYARD_BENCH_MAIN=<path of a built
 * bin/lanyard.js> runs that build instead, e.g. an earlier commit's from the cache, to compare
 * before and after a change on the same machine.
 */
export async function builtLanyard(): Promise<string> {
  const given = process.env.LANYARD_BENCH_MAIN;
  if (given) {
    if (!existsSync(given)) throw new Error(`LANYARD_BENCH_MAIN: no ${given}`);
    return given;
  }
  const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  const dirty = spawnSync(
    'git',
    ['diff', '--quiet', 'HEAD', '--', 'lib', 'proto', 'ca', 'sidecar', 'controller', 'cli', 'bin', 'scripts'],
    { cwd: ROOT },
  ).status;
  const out = join(CACHE, `build-${commit}${dirty ? '-dirty' : ''}`);
  const bin = join(out, 'bin', 'lanyard.js');
  if (existsSync(bin) && !dirty) return bin;
  // Built beside and renamed into place: benchmarks of other checkouts at the same commit may
  // read the same folder meanwhile.
  mkdirSync(CACHE, { recursive: true });
  const staging = mkdtempSync(join(CACHE, 'building-'));
  console.error(`bench: building Lanyard into ${out}`);
  // Emits even when another file of the work tree has a type error; the run needs only JS.
  spawnSync(
    join(ROOT, 'node_modules', '.bin', 'tsc'),
    ['-p', 'tsconfig.build.json', '--outDir', join(staging, 'dist')],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (!existsSync(join(staging, 'dist', 'cli', 'main.js')))
    throw new Error(`compiling Lanyard produced no ${join(staging, 'dist', 'cli', 'main.js')}`);
  await bundleSidecar(join(staging, 'dist', 'sidecar.cjs'));
  for (const file of readdirSync(join(ROOT, 'proto')).filter((name) => name.endsWith('.proto'))) {
    cpSync(join(ROOT, 'proto', file), join(staging, 'dist', 'proto', file));
  }
  cpSync(join(ROOT, 'bin'), join(staging, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(staging, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(staging, 'node_modules'));
  rmSync(out, { recursive: true, force: true });
  renameSync(staging, out);
  return bin;
}
