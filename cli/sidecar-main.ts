// The entry of the sidecar's single-file bundle (dist/sidecar.cjs, built by
// scripts/bundle-sidecar.ts): `node bin/lanyard.js sidecar` in an installed package or the
// image runs it instead of dist/cli/main.js. CommonJS has no top-level await, hence the promise.
import { runSidecar } from './sidecar-process.ts';

void runSidecar(process.argv.slice(3), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code;
});
