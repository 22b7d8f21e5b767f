// The benchmarks run Lanyard as it ships (compiled JavaScript, as in the container image), not
// through tsx: compiled once per commit into ~/.cache/lanyard/bench/dist-<commit>, outside the
// work tree, so that no other checkout's dist/ is touched.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE } from './tools.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Returns the path of the compiled `cli/main.js` (`node <it> sidecar` runs a sidecar).
 * LANYARD_BENCH_MAIN=<path of a compiled cli/main.js> runs that build instead, e.g. an earlier
 * commit's from the cache, to compare before and after a change on the same machine.
 */
export function compiledLanyard(): string {
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
    ['diff', '--quiet', 'HEAD', '--', 'lib', 'ca', 'sidecar', 'controller', 'cli'],
    {
      cwd: ROOT,
    },
  ).status;
  const out = join(CACHE, `dist-${commit}${dirty ? '-dirty' : ''}`);
  const main = join(out, 'cli', 'main.js');
  if (existsSync(main) && !dirty) return main;
  mkdirSync(out, { recursive: true });
  console.error(`bench: compiling Lanyard into ${out}`);
  // Emits even when another file of the work tree has a type error; the run needs only JS.
  spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', out], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (!existsSync(main)) throw new Error(`compiling Lanyard produced no ${main}`);
  for (const file of readdirSync(join(ROOT, 'proto')).filter((name) => name.endsWith('.proto'))) {
    cpSync(join(ROOT, 'proto', file), join(out, 'proto', file));
  }
  if (!existsSync(join(out, 'node_modules')))
    symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
  if (!existsSync(join(out, 'package.json'))) cpSync(join(ROOT, 'package.json'), join(out, 'package.json'));
  return main;
}
