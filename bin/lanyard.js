#!/usr/bin/env node
// Entry point of the `lanyard` command. A source checkout runs the TypeScript directly
// (through tsx, so `npm ci && npx lanyard` needs no build step); an installed package or
// the container image, which ship only dist/, run the compiled JavaScript.
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
