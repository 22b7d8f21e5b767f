#!/usr/bin/env node
// Entry point of the `lanyard` command. A source checkout runs the TypeScript directly
// (through tsx, so `npm ci && npx lanyard` needs no build step); an installed package or
// the container image, which ship only dist/, run the compiled JavaScript, and the sidecar
// (one per pod) its single-file bundle: some 6 MB less resident memory than the same code
// loaded as modules (docs/adr/0009-sidecar-single-file-bundle.md).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const source = new URL('../cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else if (process.argv[2] === 'sidecar') {
  createRequire(import.meta.url)('../dist/sidecar.cjs');
} else {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
